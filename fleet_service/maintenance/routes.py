"""HTTP routes for maintenance schedules and records (managers)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
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
from shared.records import paginated
from shared.roles import MANAGERS

bp = APIBlueprint(
    "maintenance", __name__, url_prefix="/api/v1/fleet/maintenance", tag="Maintenance"
)


@bp.post("/schedules")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(ScheduleCreateIn, arg_name="body")
@bp.output(ScheduleOut, status_code=201)
@bp.doc(summary="Plan recurring maintenance of a vehicle (manager)")
def create_schedule(body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.create_schedule(db_session=current_session(), identity=identity, **body)


# Each list after a route whose output is its item schema itself (see odometer/routes.py).
@bp.get("/schedules")
@bp.auth_required(user_auth, roles=MANAGERS)
@paginated(bp, service.SCHEDULES, query=ScheduleListQuery, item=ScheduleOut)
@bp.doc(summary="List schedules with their due state, computed now (manager)")
def list_schedules() -> sa.Select[Any]:
    return service.SCHEDULES.select(current_identity())


@bp.get("/schedules/<uuid:schedule_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.output(ScheduleOut)
@bp.doc(summary="One schedule with its due state (manager)")
def get_schedule(schedule_id: uuid.UUID) -> Any:
    return service.SCHEDULES.get(current_session(), current_identity(), schedule_id)


@bp.post("/records")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(RecordCreateIn, arg_name="body")
@bp.output(RecordOut, status_code=201)
@bp.doc(summary="Record maintenance done, with its odometer reading (manager)")
def record_maintenance(body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.record_maintenance(
        db_session=current_session(), identity=identity, find_file=media_files().find, **body
    )


@bp.get("/records")
@bp.auth_required(user_auth, roles=MANAGERS)
@paginated(
    bp,
    service.RECORDS,
    query=RecordListQuery,
    item=RecordOut,
    csv_filename="maintenance-records.csv",
)
@bp.doc(summary="List maintenance records, latest first (manager)")
def list_records() -> sa.Select[Any]:
    return service.RECORDS.select(current_identity())


@bp.get("/records/<uuid:record_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.output(RecordOut)
@bp.doc(summary="One maintenance record (manager)")
def get_record(record_id: uuid.UUID) -> Any:
    return service.RECORDS.get(current_session(), current_identity(), record_id)
