"""HTTP routes for drivers."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.drivers import service
from fleet_service.drivers.schemas import DriverCreateIn, DriverOut, DriverUpdateIn
from fleet_service.drivers.users import FIND_USER
from shared.roles import MANAGERS
from shared.routes import command_route, get_route, list_route

bp = APIBlueprint("drivers", __name__, url_prefix="/api/v1/fleet/drivers", tag="Drivers")

command_route(
    bp,
    "POST",
    "",
    service.create_driver,
    body=DriverCreateIn,
    item=DriverOut,
    status_code=201,
    roles=MANAGERS,
    uses=FIND_USER,
    summary="Make an active user a driver (manager)",
)
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
command_route(
    bp,
    "PATCH",
    "/<uuid:driver_id>",
    service.update_driver,
    body=DriverUpdateIn,
    body_as="changes",
    item=DriverOut,
    roles=MANAGERS,
    summary="Change a driver's name or license (manager)",
)
