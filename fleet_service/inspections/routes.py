"""HTTP routes for inspections."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.drivers.users import auth_users
from fleet_service.inspections import service
from fleet_service.inspections.schemas import (
    InspectionCreateIn,
    InspectionListQuery,
    InspectionOut,
    InspectionPageOut,
    InspectionResolveIn,
)
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint(
    "inspections", __name__, url_prefix="/api/v1/fleet/inspections", tag="Inspections"
)


@bp.post("")
@bp.input(InspectionCreateIn, arg_name="body")
@bp.output(InspectionOut, status_code=201)
@bp.doc(summary="Record an inspection checklist (a driver: of a vehicle assigned to them)")
def record_inspection(body: dict[str, Any]) -> Any:
    identity = require_user()
    return service.record_inspection(
        db_session=current_session(),
        identity=identity,
        find_file=media_files().find,
        find_user=auth_users().find,
        **body,
    )


# After a route whose output is InspectionOut itself (see odometer/routes.py).
@bp.get("")
@bp.input(InspectionListQuery, location="query", arg_name="query")
@bp.output(InspectionPageOut)
@bp.doc(summary="List inspections, latest first (a driver sees their own)")
def list_inspections(query: dict[str, Any]) -> Any:
    identity = require_user()
    return service.list_inspections(db_session=current_session(), identity=identity, **query)


@bp.get("/<uuid:inspection_id>")
@bp.output(InspectionOut)
@bp.doc(summary="One inspection")
def get_inspection(inspection_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_inspection(
        db_session=current_session(), identity=identity, inspection_id=inspection_id
    )


@bp.post("/<uuid:inspection_id>/resolve")
@bp.input(InspectionResolveIn, arg_name="body")
@bp.output(InspectionOut)
@bp.doc(summary="Resolve a failed inspection: its alert clears (manager)")
def resolve_inspection(inspection_id: uuid.UUID, body: dict[str, Any]) -> Any:
    identity = require_user("admin", "manager")
    return service.resolve_inspection(
        db_session=current_session(), identity=identity, inspection_id=inspection_id, **body
    )
