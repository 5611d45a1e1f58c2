"""The drivers table."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fleet_service.base import Base

# Brazilian CNH categories, single and the combinations a CNH may carry.
LICENSE_CATEGORIES = ("A", "B", "C", "D", "E", "AB", "AC", "AD", "AE")


class Driver(Base):
    __tablename__ = "drivers"
    __table_args__ = (
        sa.CheckConstraint(f"license_category IN {LICENSE_CATEGORIES}", name="license_category"),
        sa.Index("ix_drivers_full_name_id", "full_name", "id"),
        # The alerts look for licenses expiring soon.
        sa.Index("ix_drivers_license_expires_on", "license_expires_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # A user of the auth service: another schema, so the id only, no foreign key.
    user_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    license_number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    license_category: Mapped[str] = mapped_column(sa.String(2))
    license_expires_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
