"""HTTP routes for documents of vehicles and drivers."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.documents import service
from fleet_service.documents.schemas import (
    DocumentCreateIn,
    DocumentListQuery,
    DocumentOut,
    DocumentPageOut,
)
from fleet_service.media_files import media_files
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint("documents", __name__, url_prefix="/api/v1/fleet/documents", tag="Documents")


@bp.post("")
@bp.input(DocumentCreateIn, arg_name="body")
@bp.output(DocumentOut, status_code=201)
@bp.doc(summary="File a document of a vehicle or a driver (manager)")
def add_document(body: dict[str, Any]) -> Any:
    identity = require_user("admin", "manager")
    return service.add_document(
        db_session=current_session(), identity=identity, find_file=media_files().find, **body
    )


# After a route whose output is DocumentOut itself (see odometer/routes.py).
@bp.get("")
@bp.input(DocumentListQuery, location="query", arg_name="query")
@bp.output(DocumentPageOut)
@bp.doc(summary="List documents (a driver: their own and their vehicles')")
def list_documents(query: dict[str, Any]) -> Any:
    identity = require_user()
    return service.list_documents(db_session=current_session(), identity=identity, **query)


@bp.get("/<uuid:document_id>")
@bp.output(DocumentOut)
@bp.doc(summary="One document")
def get_document(document_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_document(
        db_session=current_session(), identity=identity, document_id=document_id
    )
