"""Document rules: each belongs to one vehicle or one driver; who may see which."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id, own_driver_ids
from fleet_service.documents.models import Document
from fleet_service.drivers.models import Driver
from fleet_service.media_files import FindFile, check_files
from fleet_service.vehicles.service import assigned_now, vehicle_to_record_on
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, equals


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
        number=number,
        valid_from=valid_from,
        valid_until=valid_until,
        media_id=media_id,
        author_user_id=caller_user_id(identity),
    )
    db_session.add(document)
    db_session.commit()
    return document


DOCUMENTS = Records(
    Document,
    not_found=("document_not_found", "No such document"),
    # A driver sees their own documents and those of the vehicles they see.
    drivers_see=lambda identity: sa.or_(
        Document.driver_id.in_(own_driver_ids(identity)),
        Document.vehicle_id.in_(assigned_now(identity)),
    ),
    order_by=[Document.created_at, Document.id],
    descending=True,
    filters={
        "vehicle_id": equals(Document.vehicle_id),
        "driver_id": equals(Document.driver_id),
        "type": lambda raw: Document.type == normalize_type(raw),
    },
)
