"""HTTP routes for fuel logs."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.drivers.users import FIND_USER
from fleet_service.fuel import service
from fleet_service.fuel.schemas import FuelLogCreateIn, FuelLogOut
from fleet_service.media_files import FIND_FILE
from shared.routes import command_route, get_route, list_route

bp = APIBlueprint("fuel", __name__, url_prefix="/api/v1/fleet/fuel-logs", tag="Fuel")

command_route(
    bp,
    "POST",
    "",
    service.log_fuel,
    body=FuelLogCreateIn,
    item=FuelLogOut,
    status_code=201,
    uses=FIND_FILE | FIND_USER,
    summary="Log a fill (a driver: of a vehicle assigned to them)",
)
# After a route whose output is FuelLogOut itself (see odometer/routes.py).
list_route(
    bp,
    "",
    service.FUEL_LOGS,
    endpoint="list_fuel_logs",
    item=FuelLogOut,
    csv_filename="fuel-logs.csv",
    summary="List fills, latest first (a driver sees their own)",
)
get_route(
    bp,
    "/<uuid:fuel_log_id>",
    service.FUEL_LOGS,
    endpoint="get_fuel_log",
    item=FuelLogOut,
    summary="One fill",
)
