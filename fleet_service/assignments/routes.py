"""HTTP routes for assignments."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.assignments import service
from fleet_service.assignments.schemas import (
    AssignmentCreateIn,
    AssignmentEndIn,
    AssignmentListQuery,
    AssignmentOut,
)
from fleet_service.drivers.users import auth_users
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS

bp = APIBlueprint(
    "assignments", __name__, url_prefix="/api/v1/fleet/assignments", tag="Assignments"
)


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(AssignmentCreateIn, arg_name="body")
@bp.output(AssignmentOut, status_code=201)
@bp.doc(summary="Assign a vehicle to a driver over a period (manager)")
def create_assignment(body: dict[str, Any]) -> Any:
    return service.create_assignment(
        db_session=current_session(), find_user=auth_users().find, **body
    )


@bp.post("/<uuid:assignment_id>/end")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(AssignmentEndIn, arg_name="body")
@bp.output(AssignmentOut)
@bp.doc(summary="End an assignment, now or at ends_at (manager)")
def end_assignment(assignment_id: uuid.UUID, body: dict[str, Any]) -> Any:
    return service.end_assignment(db_session=current_session(), assignment_id=assignment_id, **body)


@bp.get("")
@bp.auth_required(user_auth)
@paginated(bp, service.ASSIGNMENTS, query=AssignmentListQuery, item=AssignmentOut)
@bp.doc(summary="List assignments (a driver sees their own)")
def list_assignments() -> sa.Select[Any]:
    return service.ASSIGNMENTS.select(current_identity())


@bp.get("/<uuid:assignment_id>")
@bp.auth_required(user_auth)
@bp.output(AssignmentOut)
@bp.doc(summary="One assignment")
def get_assignment(assignment_id: uuid.UUID) -> Any:
    return service.ASSIGNMENTS.get(current_session(), current_identity(), assignment_id)
