"""HTTP routes for maintenance schedules and records (managers)."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.csv_export import page_as_csv
from fleet_service.maintenance import service
from fleet_service.maintenance.schemas import (
    RecordCreateIn,
    RecordListQuery,
    RecordOut,
    RecordPageOut,
    ScheduleCreateIn,
    ScheduleListQuery,
    ScheduleOut,
    SchedulePageOut,
)
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint(
    "maintenance", __name__, url_prefix="/api/v1/fleet/maintenance", tag="Maintenance"
)
MANAGERS = ("admin", "manager")


@bp.post("/schedules")
@bp.input(ScheduleCreateIn, arg_name="body")
@bp.output(ScheduleOut, status_code=201)
@bp.doc(summary="Plan recurring maintenance of a vehicle (manager)")
def create_schedule(body: dict[str, Any]) -> Any:
    identity = require_user(*MANAGERS)
    return service.create_schedule(db_session=current_session(), identity=identity, **body)


# Each list after a route whose output is its item schema itself (see odometer/routes.py).
@bp.get("/schedules")
@bp.input(ScheduleListQuery, location="query", arg_name="query")
@bp.output(SchedulePageOut)
@bp.doc(summary="List schedules with their due state, computed now (manager)")
def list_schedules(query: dict[str, Any]) -> Any:
    require_user(*MANAGERS)
    return service.list_schedules(db_session=current_session(), **query)


@bp.get("/schedules/<uuid:schedule_id>")
@bp.output(ScheduleOut)
@bp.doc(summary="One schedule with its due state (manager)")
def get_schedule(schedule_id: uuid.UUID) -> Any:
    require_user(*MANAGERS)
    return service.get_schedule(db_session=current_session(), schedule_id=schedule_id)


@bp.post("/records")
@bp.input(RecordCreateIn, arg_name="body")
@bp.output(RecordOut, status_code=201)
@bp.doc(summary="Record maintenance done, with its odometer reading (manager)")
def record_maintenance(body: dict[str, Any]) -> Any:
    identity = require_user(*MANAGERS)
    return service.record_maintenance(
        db_session=current_session(), identity=identity, find_file=media_files().find, **body
    )


@bp.get("/records")
@bp.input(RecordListQuery, location="query", arg_name="query")
@bp.output(RecordPageOut)
@bp.doc(summary="List maintenance records, latest first (manager)")
def list_records(query: dict[str, Any]) -> Any:
    require_user(*MANAGERS)
    output = query.pop("format")
    page = service.list_records(db_session=current_session(), **query)
    if output == "csv":
        return page_as_csv(page, RecordOut, filename="maintenance-records.csv")
    return page


@bp.get("/records/<uuid:record_id>")
@bp.output(RecordOut)
@bp.doc(summary="One maintenance record (manager)")
def get_record(record_id: uuid.UUID) -> Any:
    require_user(*MANAGERS)
    return service.get_record(db_session=current_session(), record_id=record_id)
