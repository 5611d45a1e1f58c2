"""HTTP routes for documents of vehicles and drivers."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from fleet_service.documents import service
from fleet_service.documents.schemas import DocumentCreateIn, DocumentOut
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import get_route, list_route
from shared.roles import MANAGERS

bp = APIBlueprint("documents", __name__, url_prefix="/api/v1/fleet/documents", tag="Documents")


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(DocumentCreateIn, arg_name="body")
@bp.output(DocumentOut, status_code=201)
def add_document(body: dict[str, Any]) -> Any:
    """File a document of a vehicle or a driver (manager)"""
    return service.add_document(
        db_session=current_session(),
        identity=current_identity(),
        find_file=media_files().find,
        **body,
    )


# After a route whose output is DocumentOut itself (see odometer/routes.py).
list_route(
    bp,
    "",
    service.DOCUMENTS,
    endpoint="list_documents",
    item=DocumentOut,
    summary="List documents (a driver: their own and their vehicles')",
)


get_route(
    bp,
    "/<uuid:document_id>",
    service.DOCUMENTS,
    endpoint="get_document",
    item=DocumentOut,
    summary="One document",
)
