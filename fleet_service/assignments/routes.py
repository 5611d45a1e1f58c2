"""HTTP routes for assignments."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.assignments import service
from fleet_service.assignments.schemas import AssignmentCreateIn, AssignmentEndIn, AssignmentOut
from fleet_service.drivers.users import auth_users
from shared.db import current_session
from shared.internal_auth import user_auth
from shared.records import get_route, list_route
from shared.roles import MANAGERS

bp = APIBlueprint(
    "assignments", __name__, url_prefix="/api/v1/fleet/assignments", tag="Assignments"
)


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(AssignmentCreateIn, arg_name="body")
@bp.output(AssignmentOut, status_code=201)
def create_assignment(body: dict[str, Any]) -> Any:
    """Assign a vehicle to a driver over a period (manager)"""
    return service.create_assignment(
        db_session=current_session(), find_user=auth_users().find, **body
    )


@bp.post("/<uuid:assignment_id>/end")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(AssignmentEndIn, arg_name="body")
@bp.output(AssignmentOut)
def end_assignment(assignment_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """End an assignment, now or at ends_at (manager)"""
    return service.end_assignment(db_session=current_session(), assignment_id=assignment_id, **body)


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
