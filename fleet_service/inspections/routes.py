"""HTTP routes for inspections."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.drivers.users import auth_users
from fleet_service.inspections import service
from fleet_service.inspections.schemas import InspectionCreateIn, InspectionOut, InspectionResolveIn
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import get_route, list_route
from shared.roles import MANAGERS

bp = APIBlueprint(
    "inspections", __name__, url_prefix="/api/v1/fleet/inspections", tag="Inspections"
)


@bp.post("")
@bp.auth_required(user_auth)
@bp.input(InspectionCreateIn, arg_name="body")
@bp.output(InspectionOut, status_code=201)
def record_inspection(body: dict[str, Any]) -> Any:
    """Record an inspection checklist (a driver: of a vehicle assigned to them)"""
    return service.record_inspection(
        db_session=current_session(),
        identity=current_identity(),
        find_file=media_files().find,
        find_user=auth_users().find,
        **body,
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


@bp.post("/<uuid:inspection_id>/resolve")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(InspectionResolveIn, arg_name="body")
@bp.output(InspectionOut)
def resolve_inspection(inspection_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """Resolve a failed inspection: its alert clears (manager)"""
    return service.resolve_inspection(
        db_session=current_session(),
        identity=current_identity(),
        inspection_id=inspection_id,
        **body,
    )
