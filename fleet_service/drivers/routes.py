"""HTTP routes for drivers."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.drivers import service
from fleet_service.drivers.schemas import (
    DriverCreateIn,
    DriverListQuery,
    DriverOut,
    DriverUpdateIn,
)
from fleet_service.drivers.users import auth_users
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS

bp = APIBlueprint("drivers", __name__, url_prefix="/api/v1/fleet/drivers", tag="Drivers")


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(DriverCreateIn, arg_name="body")
@bp.output(DriverOut, status_code=201)
@bp.doc(summary="Make an active user a driver (manager)")
def create_driver(body: dict[str, Any]) -> Any:
    return service.create_driver(db_session=current_session(), find_user=auth_users().find, **body)


@bp.get("")
@bp.auth_required(user_auth)
@paginated(bp, service.DRIVERS, query=DriverListQuery, item=DriverOut)
@bp.doc(summary="List drivers (a driver sees their own record)")
def list_drivers() -> sa.Select[Any]:
    return service.DRIVERS.select(current_identity())


@bp.get("/<uuid:driver_id>")
@bp.auth_required(user_auth)
@bp.output(DriverOut)
@bp.doc(summary="One driver")
def get_driver(driver_id: uuid.UUID) -> Any:
    return service.DRIVERS.get(current_session(), current_identity(), driver_id)


@bp.patch("/<uuid:driver_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(DriverUpdateIn, arg_name="body")
@bp.output(DriverOut)
@bp.doc(summary="Change a driver's name or license (manager)")
def update_driver(driver_id: uuid.UUID, body: dict[str, Any]) -> Any:
    return service.update_driver(
        db_session=current_session(),
        identity=current_identity(),
        driver_id=driver_id,
        changes=body,
    )
