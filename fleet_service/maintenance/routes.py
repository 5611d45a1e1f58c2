"""HTTP routes for maintenance schedules and records (managers)."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.maintenance import service
from fleet_service.maintenance.schemas import (
    RecordCreateIn,
    RecordOut,
    ScheduleCreateIn,
    ScheduleOut,
)
from fleet_service.media_files import FIND_FILE
from shared.roles import MANAGERS
from shared.routes import command_route, get_route, list_route

bp = APIBlueprint(
    "maintenance", __name__, url_prefix="/api/v1/fleet/maintenance", tag="Maintenance"
)

command_route(
    bp,
    "POST",
    "/schedules",
    service.create_schedule,
    body=ScheduleCreateIn,
    item=ScheduleOut,
    status_code=201,
    roles=MANAGERS,
    summary="Plan recurring maintenance of a vehicle (manager)",
)
# Each list after a route whose output is its item schema itself (see odometer/routes.py).
list_route(
    bp,
    "/schedules",
    service.SCHEDULES,
    endpoint="list_schedules",
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
command_route(
    bp,
    "POST",
    "/records",
    service.record_maintenance,
    body=RecordCreateIn,
    item=RecordOut,
    status_code=201,
    roles=MANAGERS,
    uses=FIND_FILE,
    summary="Record maintenance done, with its odometer reading (manager)",
)
list_route(
    bp,
    "/records",
    service.RECORDS,
    endpoint="list_records",
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
