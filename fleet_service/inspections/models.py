"""The inspections and inspection_items tables: a checklist of a vehicle, item by item."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet_service.base import Base

# Mildest first: an inspection's failure is as severe as its worst failed item.
SEVERITIES = ("low", "medium", "high", "critical")
UNRESOLVED_FAILURE = sa.text("failure_severity IS NOT NULL AND resolved_at IS NULL")


class InspectionItem(Base):
    __tablename__ = "inspection_items"
    __table_args__ = (
        sa.CheckConstraint(f"severity IN {SEVERITIES}", name="severity"),
        sa.CheckConstraint("ok OR severity IS NOT NULL", name="failed_item_has_severity"),
        sa.UniqueConstraint("inspection_id", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    inspection_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("inspections.id"))
    # The item's place in the checklist as sent.
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    item: Mapped[str] = mapped_column(sa.String(120))
    ok: Mapped[bool]
    severity: Mapped[str | None] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    # Files of the media service: another schema, so ids only.
    media_ids: Mapped[list[uuid.UUID]] = mapped_column(
        postgresql.ARRAY(sa.Uuid), default=list, server_default="{}"
    )


class Inspection(Base):
    __tablename__ = "inspections"
    __table_args__ = (
        sa.CheckConstraint(f"failure_severity IN {SEVERITIES}", name="failure_severity"),
        sa.CheckConstraint(
            "resolved_at IS NULL OR failure_severity IS NOT NULL", name="only_failures_resolved"
        ),
        sa.CheckConstraint(
            "(resolved_at IS NULL) = (resolved_by_user_id IS NULL)", name="resolution_is_complete"
        ),
        sa.Index("ix_inspections_inspected_at_id", "inspected_at", "id"),
        sa.Index("ix_inspections_vehicle_id_inspected_at_id", "vehicle_id", "inspected_at", "id"),
        sa.Index(
            "ix_inspections_author_user_id_inspected_at_id",
            "author_user_id",
            "inspected_at",
            "id",
        ),
        # The alerts list the failures not yet resolved, which are few.
        sa.Index("ix_inspections_unresolved", "vehicle_id", postgresql_where=UNRESOLVED_FAILURE),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vehicles.id"))
    trip_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("trips.id"))
    author_user_id: Mapped[uuid.UUID]
    inspected_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    # The worst severity among the failed items, None when every item passed. Items
    # never change after the inspection is recorded, so neither does this.
    failure_severity: Mapped[str | None] = mapped_column(sa.String(16))
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolved_by_user_id: Mapped[uuid.UUID | None]
    resolution_note: Mapped[str | None] = mapped_column(sa.String(500))
    items: Mapped[list[InspectionItem]] = relationship(
        order_by=InspectionItem.position, lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def failed(self) -> bool:
        return self.failure_severity is not None
