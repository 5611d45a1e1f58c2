"""HTTP routes for maintenance schedules and records (managers)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from fleet_service.maintenance import service
from fleet_service.maintenance.schemas import (
    RecordCreateIn,
    RecordListQuery,
    RecordOut,
    ScheduleCreateIn,
    ScheduleListQuery,
    ScheduleOut,
)
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import get_route, list_route
from shared.roles import MANAGERS

bp = APIBlueprint(
    "maintenance", __name__, url_prefix="/api/v1/fleet/maintenance", tag="Maintenance"
)


@bp.post("/schedules")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(ScheduleCreateIn, arg_name="body")
@bp.output(ScheduleOut, status_code=201)
def create_schedule(body: dict[str, Any]) -> Any:
    """Plan recurring maintenance of a vehicle (manager)"""
    return service.create_schedule(
        db_session=current_session(), identity=current_identity(), **body
    )


# Each list after a route whose output is its item schema itself (see odometer/routes.py).
list_route(
    bp,
    "/schedules",
    service.SCHEDULES,
    endpoint="list_schedules",
    query=ScheduleListQuery,
    item=ScheduleOut,
    roles=MANAGERS,
    summary="List schedules with their due state, computed now (manager)",
)


get_route(
    bp,
    "/schedules/<uuid:schedule_id>",
    service.SCHEDULES,
    endpoint="get_schedule",
    item=ScheduleOut,
    roles=MANAGERS,
    summary="One schedule with its due state (manager)",
)


@bp.post("/records")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(RecordCreateIn, arg_name="body")
@bp.output(RecordOut, status_code=201)
def record_maintenance(body: dict[str, Any]) -> Any:
    """Record maintenance done, with its odometer reading (manager)"""
    return service.record_maintenance(
        db_session=current_session(),
        identity=current_identity(),
        find_file=media_files().find,
        **body,
    )


list_route(
    bp,
    "/records",
    service.RECORDS,
    endpoint="list_records",
    query=RecordListQuery,
    item=RecordOut,
    csv_filename="maintenance-records.csv",
    roles=MANAGERS,
    summary="List maintenance records, latest first (manager)",
)


get_route(
    bp,
    "/records/<uuid:record_id>",
    service.RECORDS,
    endpoint="get_record",
    item=RecordOut,
    roles=MANAGERS,
    summary="One maintenance record (manager)",
)
