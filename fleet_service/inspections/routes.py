"""HTTP routes for inspections."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.drivers.users import auth_users
from fleet_service.inspections import service
from fleet_service.inspections.schemas import (
    InspectionCreateIn,
    InspectionListQuery,
    InspectionOut,
    InspectionResolveIn,
)
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS

bp = APIBlueprint(
    "inspections", __name__, url_prefix="/api/v1/fleet/inspections", tag="Inspections"
)


@bp.post("")
@bp.auth_required(user_auth)
@bp.input(InspectionCreateIn, arg_name="body")
@bp.output(InspectionOut, status_code=201)
@bp.doc(summary="Record an inspection checklist (a driver: of a vehicle assigned to them)")
def record_inspection(body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.record_inspection(
        db_session=current_session(),
        identity=identity,
        find_file=media_files().find,
        find_user=auth_users().find,
        **body,
    )


# After a route whose output is InspectionOut itself (see odometer/routes.py).
@bp.get("")
@bp.auth_required(user_auth)
@paginated(bp, service.INSPECTIONS, query=InspectionListQuery, item=InspectionOut)
@bp.doc(summary="List inspections, latest first (a driver sees their own)")
def list_inspections() -> sa.Select[Any]:
    return service.INSPECTIONS.select(current_identity())


@bp.get("/<uuid:inspection_id>")
@bp.auth_required(user_auth)
@bp.output(InspectionOut)
@bp.doc(summary="One inspection")
def get_inspection(inspection_id: uuid.UUID) -> Any:
    return service.INSPECTIONS.get(current_session(), current_identity(), inspection_id)


@bp.post("/<uuid:inspection_id>/resolve")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(InspectionResolveIn, arg_name="body")
@bp.output(InspectionOut)
@bp.doc(summary="Resolve a failed inspection: its alert clears (manager)")
def resolve_inspection(inspection_id: uuid.UUID, body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.resolve_inspection(
        db_session=current_session(), identity=identity, inspection_id=inspection_id, **body
    )
