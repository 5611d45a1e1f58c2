"""The fuel_logs table: one fill of one vehicle."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fleet_service.base import Base
from fleet_service.vehicles.models import FUEL_TYPES


class FuelLog(Base):
    __tablename__ = "fuel_logs"
    __table_args__ = (
        sa.CheckConstraint("liters > 0", name="liters_positive"),
        sa.CheckConstraint("total_cost >= 0", name="total_cost_not_negative"),
        sa.CheckConstraint("odometer_km >= 0", name="odometer_km_not_negative"),
        sa.CheckConstraint(f"fuel_type IN {FUEL_TYPES}", name="fuel_type"),
        # Consumption walks each vehicle's fills in order; reports and the listing
        # filter by vehicle and time.
        sa.Index("ix_fuel_logs_vehicle_id_filled_at_id", "vehicle_id", "filled_at", "id"),
        sa.Index("ix_fuel_logs_filled_at_id", "filled_at", "id"),
        sa.Index("ix_fuel_logs_author_user_id_filled_at_id", "author_user_id", "filled_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vehicles.id"))
    filled_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    odometer_km: Mapped[int]
    odometer_reading_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("odometer_readings.id"))
    fuel_type: Mapped[str] = mapped_column(sa.String(16))
    liters: Mapped[Decimal] = mapped_column(sa.Numeric(7, 3))
    total_cost: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    # Derived by the database, so it always agrees with the two figures it comes from;
    # unconstrained numeric (three places from the rounding): no quotient overflows it.
    unit_price: Mapped[Decimal] = mapped_column(
        sa.Numeric(), sa.Computed("round(total_cost / liters, 3)", persisted=True)
    )
    full_tank: Mapped[bool]
    # The fill before this one was not logged: the litres since the last full tank
    # are unknown, so no consumption is computed across this fill.
    missed_previous: Mapped[bool]
    station: Mapped[str | None] = mapped_column(sa.String(120))
    # A file of the media service: another schema, so the id only.
    receipt_media_id: Mapped[uuid.UUID | None]
    author_user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
