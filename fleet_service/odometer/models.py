"""The odometer_readings table: the ledger a vehicle's odometer is derived from."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fleet_service.base import Base

SOURCES = ("manual", "trip_start", "trip_end", "fuel", "maintenance")


class OdometerReading(Base):
    __tablename__ = "odometer_readings"
    __table_args__ = (
        sa.CheckConstraint("km >= 0", name="km_not_negative"),
        sa.CheckConstraint(f"source IN {SOURCES}", name="source"),
        sa.CheckConstraint(
            "(voided_at IS NULL) = (void_reason IS NULL) "
            "AND (voided_at IS NULL) = (voided_by_user_id IS NULL)",
            name="void_is_complete",
        ),
        # Neighbour look-ups, the current odometer and the listing all walk this index.
        sa.Index("ix_odometer_readings_vehicle_id_read_at_id", "vehicle_id", "read_at", "id"),
        # The fleet's monthly report: every vehicle's readings over a few months.
        sa.Index("ix_odometer_readings_read_at_id", "read_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vehicles.id"))
    km: Mapped[int]
    read_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    source: Mapped[str] = mapped_column(sa.String(16))
    # Users live in the auth service: ids only, no foreign keys.
    author_user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    # Readings are never changed or deleted; a wrong one is voided and re-entered.
    voided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    void_reason: Mapped[str | None] = mapped_column(sa.String(200))
    voided_by_user_id: Mapped[uuid.UUID | None]


def current_km(vehicle_id: Any) -> sa.ScalarSelect[int]:
    """SQL for a vehicle's odometer: its latest reading not voided (null when none)."""
    return (
        sa.select(OdometerReading.km)
        .where(OdometerReading.vehicle_id == vehicle_id, OdometerReading.voided_at.is_(None))
        .order_by(OdometerReading.read_at.desc(), OdometerReading.km.desc())
        .limit(1)
        .correlate_except(OdometerReading)
        .scalar_subquery()
    )
