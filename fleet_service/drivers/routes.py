"""HTTP routes for drivers."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.drivers import service
from fleet_service.drivers.schemas import DriverCreateIn, DriverOut, DriverUpdateIn
from fleet_service.drivers.users import auth_users
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import get_route, list_route
from shared.roles import MANAGERS

bp = APIBlueprint("drivers", __name__, url_prefix="/api/v1/fleet/drivers", tag="Drivers")


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(DriverCreateIn, arg_name="body")
@bp.output(DriverOut, status_code=201)
def create_driver(body: dict[str, Any]) -> Any:
    """Make an active user a driver (manager)"""
    return service.create_driver(db_session=current_session(), find_user=auth_users().find, **body)


list_route(
    bp,
    "",
    service.DRIVERS,
    endpoint="list_drivers",
    item=DriverOut,
    summary="List drivers (a driver sees their own record)",
)


get_route(
    bp,
    "/<uuid:driver_id>",
    service.DRIVERS,
    endpoint="get_driver",
    item=DriverOut,
    summary="One driver",
)


@bp.patch("/<uuid:driver_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(DriverUpdateIn, arg_name="body")
@bp.output(DriverOut)
def update_driver(driver_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """Change a driver's name or license (manager)"""
    return service.update_driver(
        db_session=current_session(),
        identity=current_identity(),
        driver_id=driver_id,
        changes=body,
    )
