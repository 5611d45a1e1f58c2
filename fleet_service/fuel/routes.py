"""HTTP routes for fuel logs."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from fleet_service.drivers.users import auth_users
from fleet_service.fuel import service
from fleet_service.fuel.schemas import FuelLogCreateIn, FuelLogListQuery, FuelLogOut
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import get_route, list_route

bp = APIBlueprint("fuel", __name__, url_prefix="/api/v1/fleet/fuel-logs", tag="Fuel")


@bp.post("")
@bp.auth_required(user_auth)
@bp.input(FuelLogCreateIn, arg_name="body")
@bp.output(FuelLogOut, status_code=201)
def log_fuel(body: dict[str, Any]) -> Any:
    """Log a fill (a driver: of a vehicle assigned to them)"""
    return service.log_fuel(
        db_session=current_session(),
        identity=current_identity(),
        find_file=media_files().find,
        find_user=auth_users().find,
        **body,
    )


# After a route whose output is FuelLogOut itself (see odometer/routes.py).
list_route(
    bp,
    "",
    service.FUEL_LOGS,
    endpoint="list_fuel_logs",
    query=FuelLogListQuery,
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
