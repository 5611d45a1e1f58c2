"""The trips table: a vehicle out with a driver, from check-out to check-in."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column

from fleet_service.base import Base
from fleet_service.vehicles.models import Vehicle

OPEN = sa.text("ended_at IS NULL")


class Trip(Base):
    __tablename__ = "trips"
    __table_args__ = (
        sa.CheckConstraint(
            "(ended_at IS NULL) = (end_km IS NULL) "
            "AND (ended_at IS NULL) = (end_reading_id IS NULL)",
            name="closed_with_reading",
        ),
        sa.CheckConstraint("end_km >= start_km", name="end_not_below_start"),
        # One open trip per vehicle and per driver, whatever races in between.
        sa.Index("uq_trips_vehicle_open", "vehicle_id", unique=True, postgresql_where=OPEN),
        sa.Index("uq_trips_driver_open", "driver_id", unique=True, postgresql_where=OPEN),
        # Keyset pagination of the listing, whole or per vehicle or driver.
        sa.Index("ix_trips_started_at_id", "started_at", "id"),
        sa.Index("ix_trips_vehicle_id_started_at_id", "vehicle_id", "started_at", "id"),
        sa.Index("ix_trips_driver_id_started_at_id", "driver_id", "started_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vehicles.id"))
    driver_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("drivers.id"))
    purpose: Mapped[str] = mapped_column(sa.String(200))
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    start_km: Mapped[int]
    start_reading_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("odometer_readings.id"))
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    end_km: Mapped[int | None]
    end_reading_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("odometer_readings.id"))
    # Read with the trip (a primary-key look-up): a driver's past trips name their
    # vehicle even once it is no longer theirs to read.
    vehicle_plate: Mapped[str] = column_property(
        sa.select(Vehicle.plate).where(Vehicle.id == vehicle_id).scalar_subquery()
    )

    @property
    def distance_km(self) -> int | None:
        return None if self.end_km is None else self.end_km - self.start_km
