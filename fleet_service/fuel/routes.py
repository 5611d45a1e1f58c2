"""HTTP routes for fuel logs."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.csv_export import page_as_csv
from fleet_service.drivers.users import auth_users
from fleet_service.fuel import service
from fleet_service.fuel.schemas import FuelLogCreateIn, FuelLogListQuery, FuelLogOut, FuelLogPageOut
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint("fuel", __name__, url_prefix="/api/v1/fleet/fuel-logs", tag="Fuel")


@bp.post("")
@bp.input(FuelLogCreateIn, arg_name="body")
@bp.output(FuelLogOut, status_code=201)
@bp.doc(summary="Log a fill (a driver: of a vehicle assigned to them)")
def log_fuel(body: dict[str, Any]) -> Any:
    identity = require_user()
    return service.log_fuel(
        db_session=current_session(),
        identity=identity,
        find_file=media_files().find,
        find_user=auth_users().find,
        **body,
    )


# After a route whose output is FuelLogOut itself (see odometer/routes.py).
@bp.get("")
@bp.input(FuelLogListQuery, location="query", arg_name="query")
@bp.output(FuelLogPageOut)
@bp.doc(summary="List fills, latest first (a driver sees their own)")
def list_fuel_logs(query: dict[str, Any]) -> Any:
    identity = require_user()
    output = query.pop("format")
    page = service.list_fuel_logs(db_session=current_session(), identity=identity, **query)
    if output == "csv":
        return page_as_csv(page, FuelLogOut, filename="fuel-logs.csv")
    return page


@bp.get("/<uuid:fuel_log_id>")
@bp.output(FuelLogOut)
@bp.doc(summary="One fill")
def get_fuel_log(fuel_log_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_fuel_log(
        db_session=current_session(), identity=identity, fuel_log_id=fuel_log_id
    )
