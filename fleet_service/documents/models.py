"""The documents table: a document of a vehicle or of a driver, and its validity."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fleet_service.base import Base


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        sa.CheckConstraint("(vehicle_id IS NULL) <> (driver_id IS NULL)", name="one_holder"),
        sa.CheckConstraint("valid_until >= valid_from", name="valid_period"),
        sa.Index("ix_documents_created_at_id", "created_at", "id"),
        # The alerts look for each holder's latest document of each type.
        sa.Index("ix_documents_vehicle_id_type_valid_until", "vehicle_id", "type", "valid_until"),
        sa.Index("ix_documents_driver_id_type_valid_until", "driver_id", "type", "valid_until"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("vehicles.id"))
    driver_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("drivers.id"))
    # Lower case ("registration", "insurance", …), so that each type groups as one.
    type: Mapped[str] = mapped_column(sa.String(40))
    number: Mapped[str] = mapped_column(sa.String(60))
    valid_from: Mapped[date | None]
    # None: the document does not expire.
    valid_until: Mapped[date | None]
    # A file of the media service: another schema, so the id only.
    media_id: Mapped[uuid.UUID | None]
    author_user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
