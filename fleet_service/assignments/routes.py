"""HTTP routes for assignments."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.assignments import service
from fleet_service.assignments.schemas import (
    AssignmentCreateIn,
    AssignmentEndIn,
    AssignmentListQuery,
    AssignmentOut,
    AssignmentPageOut,
)
from fleet_service.drivers.users import auth_users
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint(
    "assignments", __name__, url_prefix="/api/v1/fleet/assignments", tag="Assignments"
)


@bp.post("")
@bp.input(AssignmentCreateIn, arg_name="body")
@bp.output(AssignmentOut, status_code=201)
@bp.doc(summary="Assign a vehicle to a driver over a period (manager)")
def create_assignment(body: dict[str, Any]) -> Any:
    require_user("admin", "manager")
    return service.create_assignment(
        db_session=current_session(), find_user=auth_users().find, **body
    )


@bp.post("/<uuid:assignment_id>/end")
@bp.input(AssignmentEndIn, arg_name="body")
@bp.output(AssignmentOut)
@bp.doc(summary="End an assignment, now or at ends_at (manager)")
def end_assignment(assignment_id: uuid.UUID, body: dict[str, Any]) -> Any:
    require_user("admin", "manager")
    return service.end_assignment(db_session=current_session(), assignment_id=assignment_id, **body)


@bp.get("")
@bp.input(AssignmentListQuery, location="query", arg_name="query")
@bp.output(AssignmentPageOut)
@bp.doc(summary="List assignments (a driver sees their own)")
def list_assignments(query: dict[str, Any]) -> Any:
    identity = require_user()
    return service.list_assignments(db_session=current_session(), identity=identity, **query)


@bp.get("/<uuid:assignment_id>")
@bp.output(AssignmentOut)
@bp.doc(summary="One assignment")
def get_assignment(assignment_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_assignment(
        db_session=current_session(), identity=identity, assignment_id=assignment_id
    )
