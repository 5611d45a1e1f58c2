"""HTTP routes for drivers."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.drivers import service
from fleet_service.drivers.schemas import (
    DriverCreateIn,
    DriverListQuery,
    DriverOut,
    DriverPageOut,
    DriverUpdateIn,
)
from fleet_service.drivers.users import auth_users
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint("drivers", __name__, url_prefix="/api/v1/fleet/drivers", tag="Drivers")


@bp.post("")
@bp.input(DriverCreateIn, arg_name="body")
@bp.output(DriverOut, status_code=201)
@bp.doc(summary="Make an active user a driver (manager)")
def create_driver(body: dict[str, Any]) -> Any:
    require_user("admin", "manager")
    return service.create_driver(db_session=current_session(), find_user=auth_users().find, **body)


@bp.get("")
@bp.input(DriverListQuery, location="query", arg_name="query")
@bp.output(DriverPageOut)
@bp.doc(summary="List drivers (a driver sees their own record)")
def list_drivers(query: dict[str, Any]) -> Any:
    identity = require_user()
    return service.list_drivers(db_session=current_session(), identity=identity, **query)


@bp.get("/<uuid:driver_id>")
@bp.output(DriverOut)
@bp.doc(summary="One driver")
def get_driver(driver_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_driver(db_session=current_session(), identity=identity, driver_id=driver_id)


@bp.patch("/<uuid:driver_id>")
@bp.input(DriverUpdateIn, arg_name="body")
@bp.output(DriverOut)
@bp.doc(summary="Change a driver's name or license (manager)")
def update_driver(driver_id: uuid.UUID, body: dict[str, Any]) -> Any:
    require_user("admin", "manager")
    return service.update_driver(db_session=current_session(), driver_id=driver_id, changes=body)
