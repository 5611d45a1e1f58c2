"""HTTP routes for assignments."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.assignments import service
from fleet_service.assignments.schemas import AssignmentCreateIn, AssignmentEndIn, AssignmentOut
from fleet_service.drivers.users import FIND_USER
from shared.roles import MANAGERS
from shared.routes import command_route, get_route, list_route

bp = APIBlueprint(
    "assignments", __name__, url_prefix="/api/v1/fleet/assignments", tag="Assignments"
)

command_route(
    bp,
    "POST",
    "",
    service.create_assignment,
    body=AssignmentCreateIn,
    item=AssignmentOut,
    status_code=201,
    roles=MANAGERS,
    uses=FIND_USER,
    summary="Assign a vehicle to a driver over a period (manager)",
)
command_route(
    bp,
    "POST",
    "/<uuid:assignment_id>/end",
    service.end_assignment,
    body=AssignmentEndIn,
    item=AssignmentOut,
    roles=MANAGERS,
    summary="End an assignment, now or at ends_at (manager)",
)
list_route(
    bp,
    "",
    service.ASSIGNMENTS,
    endpoint="list_assignments",
    item=AssignmentOut,
    summary="List assignments (a driver sees their own)",
)
get_route(
    bp,
    "/<uuid:assignment_id>",
    service.ASSIGNMENTS,
    endpoint="get_assignment",
    item=AssignmentOut,
    summary="One assignment",
)
