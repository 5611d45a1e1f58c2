"""HTTP routes for fuel logs."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.drivers.users import auth_users
from fleet_service.fuel import service
from fleet_service.fuel.schemas import FuelLogCreateIn, FuelLogListQuery, FuelLogOut
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated

bp = APIBlueprint("fuel", __name__, url_prefix="/api/v1/fleet/fuel-logs", tag="Fuel")


@bp.post("")
@bp.auth_required(user_auth)
@bp.input(FuelLogCreateIn, arg_name="body")
@bp.output(FuelLogOut, status_code=201)
@bp.doc(summary="Log a fill (a driver: of a vehicle assigned to them)")
def log_fuel(body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.log_fuel(
        db_session=current_session(),
        identity=identity,
        find_file=media_files().find,
        find_user=auth_users().find,
        **body,
    )


# After a route whose output is FuelLogOut itself (see odometer/routes.py).
@bp.get("")
@bp.auth_required(user_auth)
@paginated(
    bp, service.FUEL_LOGS, query=FuelLogListQuery, item=FuelLogOut, csv_filename="fuel-logs.csv"
)
@bp.doc(summary="List fills, latest first (a driver sees their own)")
def list_fuel_logs() -> sa.Select[Any]:
    return service.FUEL_LOGS.select(current_identity())


@bp.get("/<uuid:fuel_log_id>")
@bp.auth_required(user_auth)
@bp.output(FuelLogOut)
@bp.doc(summary="One fill")
def get_fuel_log(fuel_log_id: uuid.UUID) -> Any:
    return service.FUEL_LOGS.get(current_session(), current_identity(), fuel_log_id)
