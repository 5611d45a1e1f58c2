"""The assignments table: a driver has a vehicle over [starts_at, ends_at)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleet_service.base import Base

# Half-open, so one assignment may end at the very instant the next begins; a null
# end is open-ended. PostgreSQL needs btree_gist for the uuid "=" in a GiST index.
PERIOD = sa.text("tstzrange(starts_at, ends_at, '[)')")


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        sa.CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
        # No two assignments of one vehicle, nor of one driver, overlap: enforced by the
        # database, so concurrent requests cannot both get through.
        ExcludeConstraint(
            ("vehicle_id", "="), (PERIOD, "&&"), name="ex_assignments_vehicle_overlap", using="gist"
        ),
        ExcludeConstraint(
            ("driver_id", "="), (PERIOD, "&&"), name="ex_assignments_driver_overlap", using="gist"
        ),
        sa.Index("ix_assignments_starts_at_id", "starts_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vehicles.id"))
    driver_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("drivers.id"))
    starts_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )

    @classmethod
    def active_at(cls, moment: datetime) -> sa.ColumnElement[bool]:
        """SQL condition: the assignment covers ``moment``."""
        return sa.and_(cls.starts_at <= moment, sa.or_(cls.ends_at.is_(None), cls.ends_at > moment))
