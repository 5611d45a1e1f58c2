"""Document rules: each belongs to one vehicle or one driver; who may see which."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.documents.models import Document
from fleet_service.drivers.models import Driver
from fleet_service.media_files import FindFile, check_files
from fleet_service.vehicles.service import assigned_now, vehicle_to_record_on
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.pagination import Page, paginate


def normalize_type(raw: str) -> str:
    return " ".join(raw.split()).lower()


def add_document(
    *,
    db_session: Session,
    identity: Identity,
    find_file: FindFile,
    type: str,
    number: str,
    vehicle_id: uuid.UUID | None = None,
    driver_id: uuid.UUID | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    media_id: uuid.UUID | None = None,
) -> Document:
    """File a document of a vehicle in service or of a driver (422 for an unknown one)."""
    if media_id is not None:
        # Before any query: the media service answers over the network.
        check_files([media_id], identity=identity, find_file=find_file, field="media_id")
    if vehicle_id is not None:
        vehicle_to_record_on(db_session=db_session, identity=identity, vehicle_id=vehicle_id)
    elif db_session.get(Driver, driver_id) is None:
        raise APIError(422, details={"driver_id": ["no such driver"]})
    document = Document(
        vehicle_id=vehicle_id,
        driver_id=driver_id,
        type=normalize_type(type),
        number=number.strip(),
        valid_from=valid_from,
        valid_until=valid_until,
        media_id=media_id,
        author_user_id=caller_user_id(identity),
    )
    db_session.add(document)
    db_session.commit()
    return document


def visible_documents(identity: Identity) -> sa.Select[Document]:
    """Managers see every document; a driver, their own and those of the vehicles they see."""
    stmt = sa.select(Document)
    if identity.is_manager:
        return stmt
    own = sa.select(Driver.id).where(Driver.user_id == caller_user_id(identity))
    return stmt.where(
        sa.or_(Document.driver_id.in_(own), Document.vehicle_id.in_(assigned_now(identity)))
    )


def get_document(*, db_session: Session, identity: Identity, document_id: uuid.UUID) -> Document:
    document = db_session.scalar(visible_documents(identity).where(Document.id == document_id))
    if document is None:
        raise APIError(404, "document_not_found", "No such document")
    return document


def list_documents(
    *,
    db_session: Session,
    identity: Identity,
    limit: int,
    cursor: str | None,
    vehicle_id: uuid.UUID | None = None,
    driver_id: uuid.UUID | None = None,
    type: str | None = None,
) -> Page:
    """A page of the documents the caller may see, latest filed first."""
    stmt = visible_documents(identity)
    if vehicle_id:
        stmt = stmt.where(Document.vehicle_id == vehicle_id)
    if driver_id:
        stmt = stmt.where(Document.driver_id == driver_id)
    if type:
        stmt = stmt.where(Document.type == normalize_type(type))
    return paginate(
        db_session,
        stmt,
        order_by=[Document.created_at, Document.id],
        limit=limit,
        cursor=cursor,
        descending=True,
    )
