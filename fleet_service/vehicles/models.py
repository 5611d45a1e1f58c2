"""The vehicles table."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, column_property, mapped_column

from fleet_service.base import Base
from fleet_service.odometer.models import current_km

STATUSES = ("active", "workshop", "inactive", "sold")
FUEL_TYPES = ("gasoline", "ethanol", "diesel", "cng", "electric")


class Vehicle(Base):
    __tablename__ = "vehicles"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        sa.CheckConstraint(
            "cardinality(fuel_types) >= 1 AND fuel_types <@ ARRAY"
            + str(list(FUEL_TYPES))
            + "::varchar[]",
            name="fuel_types",
        ),
        sa.CheckConstraint("tank_capacity_l > 0", name="tank_capacity_positive"),
        # A plate (and a VIN) identifies one vehicle among those not retired;
        # a retired vehicle keeps its history and frees its plate.
        sa.Index(
            "uq_vehicles_plate_active",
            "plate",
            unique=True,
            postgresql_where=sa.text("retired_at IS NULL"),
        ),
        sa.Index(
            "uq_vehicles_vin_active",
            "vin",
            unique=True,
            postgresql_where=sa.text("retired_at IS NULL AND vin IS NOT NULL"),
        ),
        # Keyset pagination for each sort order the listing offers.
        sa.Index("ix_vehicles_created_at_id", "created_at", "id"),
        sa.Index("ix_vehicles_plate_id", "plate", "id"),
        sa.Index("ix_vehicles_year_id", "year", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plate: Mapped[str] = mapped_column(sa.String(16))
    vin: Mapped[str | None] = mapped_column(sa.String(17))
    make: Mapped[str] = mapped_column(sa.String(60))
    model: Mapped[str] = mapped_column(sa.String(60))
    year: Mapped[int] = mapped_column(sa.SmallInteger)
    fuel_types: Mapped[list[str]] = mapped_column(postgresql.ARRAY(sa.String(16)))
    tank_capacity_l: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 1))
    status: Mapped[str] = mapped_column(sa.String(16), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Derived from the odometer ledger, never stored. Deferred: listings undefer it (one
    # query per page), other loads (row locks) skip the sub-select.
    odometer_km: Mapped[int | None] = column_property(current_km(id), deferred=True)
