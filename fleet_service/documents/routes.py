"""HTTP routes for documents of vehicles and drivers."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.documents import service
from fleet_service.documents.schemas import (
    DocumentCreateIn,
    DocumentListQuery,
    DocumentOut,
)
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS

bp = APIBlueprint("documents", __name__, url_prefix="/api/v1/fleet/documents", tag="Documents")


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(DocumentCreateIn, arg_name="body")
@bp.output(DocumentOut, status_code=201)
@bp.doc(summary="File a document of a vehicle or a driver (manager)")
def add_document(body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.add_document(
        db_session=current_session(), identity=identity, find_file=media_files().find, **body
    )


# After a route whose output is DocumentOut itself (see odometer/routes.py).
@bp.get("")
@bp.auth_required(user_auth)
@paginated(bp, service.DOCUMENTS, query=DocumentListQuery, item=DocumentOut)
@bp.doc(summary="List documents (a driver: their own and their vehicles')")
def list_documents() -> sa.Select[Any]:
    return service.DOCUMENTS.select(current_identity())


@bp.get("/<uuid:document_id>")
@bp.auth_required(user_auth)
@bp.output(DocumentOut)
@bp.doc(summary="One document")
def get_document(document_id: uuid.UUID) -> Any:
    return service.DOCUMENTS.get(current_session(), current_identity(), document_id)
