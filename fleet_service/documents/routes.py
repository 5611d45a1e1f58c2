"""HTTP routes for documents of vehicles and drivers."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.documents import service
from fleet_service.documents.schemas import DocumentCreateIn, DocumentOut
from fleet_service.media_files import FIND_FILE
from shared.roles import MANAGERS
from shared.routes import command_route, get_route, list_route

bp = APIBlueprint("documents", __name__, url_prefix="/api/v1/fleet/documents", tag="Documents")

command_route(
    bp,
    "POST",
    "",
    service.add_document,
    body=DocumentCreateIn,
    item=DocumentOut,
    status_code=201,
    roles=MANAGERS,
    uses=FIND_FILE,
    summary="File a document of a vehicle or a driver (manager)",
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
