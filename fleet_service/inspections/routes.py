"""HTTP routes for inspections."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.drivers.users import FIND_USER
from fleet_service.inspections import service
from fleet_service.inspections.schemas import InspectionCreateIn, InspectionOut, InspectionResolveIn
from fleet_service.media_files import FIND_FILE
from shared.roles import MANAGERS
from shared.routes import command_route, get_route, list_route

bp = APIBlueprint(
    "inspections", __name__, url_prefix="/api/v1/fleet/inspections", tag="Inspections"
)

command_route(
    bp,
    "POST",
    "",
    service.record_inspection,
    body=InspectionCreateIn,
    item=InspectionOut,
    status_code=201,
    uses=FIND_FILE | FIND_USER,
    summary="Record an inspection checklist (a driver: of a vehicle assigned to them)",
)
# After a route whose output is InspectionOut itself (see odometer/routes.py).
list_route(
    bp,
    "",
    service.INSPECTIONS,
    endpoint="list_inspections",
    item=InspectionOut,
    summary="List inspections, latest first (a driver sees their own)",
)
get_route(
    bp,
    "/<uuid:inspection_id>",
    service.INSPECTIONS,
    endpoint="get_inspection",
    item=InspectionOut,
    summary="One inspection",
)
command_route(
    bp,
    "POST",
    "/<uuid:inspection_id>/resolve",
    service.resolve_inspection,
    body=InspectionResolveIn,
    item=InspectionOut,
    roles=MANAGERS,
    summary="Resolve a failed inspection: its alert clears (manager)",
)
