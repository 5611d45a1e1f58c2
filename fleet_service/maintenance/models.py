"""The maintenance_schedules and maintenance_records tables, and a schedule's due state.

A schedule's due state is derived in SQL each time it is read — from its latest
record, or when it has none from the schedule's creation and the vehicle's first
reading — and never stored, so no read can change it and no record can leave it stale.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, QueryableAttribute, column_property, mapped_column

from fleet_service.base import Base
from fleet_service.odometer.models import OdometerReading, current_km

# A schedule is due soon this close to its due km or due date, whichever comes first.
DUE_SOON_KM = 1000
DUE_SOON_DAYS = 15
DUE_STATUSES = ("ok", "due_soon", "overdue")


class MaintenanceSchedule(Base):
    __tablename__ = "maintenance_schedules"
    __table_args__ = (
        sa.CheckConstraint("every_km IS NOT NULL OR every_days IS NOT NULL", name="has_interval"),
        sa.CheckConstraint("every_km > 0", name="every_km_positive"),
        sa.CheckConstraint("every_days > 0", name="every_days_positive"),
        sa.Index("ix_maintenance_schedules_created_at_id", "created_at", "id"),
        sa.Index("ix_maintenance_schedules_vehicle_id", "vehicle_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vehicles.id"))
    name: Mapped[str] = mapped_column(sa.String(120))
    every_km: Mapped[int | None]
    every_days: Mapped[int | None]
    author_user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )

    if TYPE_CHECKING:
        # The due state: column properties attached below, once MaintenanceRecord
        # exists (declared here for type checkers only, or they would be columns).
        last_done_at: Mapped[datetime | None]
        current_km: Mapped[int | None]
        due_at: Mapped[datetime | None]
        due_km: Mapped[int | None]
        status: Mapped[str]


class MaintenanceRecord(Base):
    __tablename__ = "maintenance_records"
    __table_args__ = (
        sa.CheckConstraint("cost >= 0", name="cost_not_negative"),
        sa.CheckConstraint("odometer_km >= 0", name="odometer_km_not_negative"),
        # A schedule's latest record, the listing, and reports' costs per vehicle and period.
        sa.Index(
            "ix_maintenance_records_schedule_id_performed_at_id",
            "schedule_id",
            "performed_at",
            "id",
        ),
        sa.Index("ix_maintenance_records_performed_at_id", "performed_at", "id"),
        sa.Index(
            "ix_maintenance_records_vehicle_id_performed_at_id", "vehicle_id", "performed_at", "id"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vehicles.id"))
    # None for work outside any schedule (a repair).
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("maintenance_schedules.id"))
    performed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    odometer_km: Mapped[int]
    odometer_reading_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("odometer_readings.id"))
    cost: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    vendor: Mapped[str | None] = mapped_column(sa.String(120))
    notes: Mapped[str | None] = mapped_column(sa.String(2000))
    # Files of the media service: another schema, so ids only.
    media_ids: Mapped[list[uuid.UUID]] = mapped_column(
        postgresql.ARRAY(sa.Uuid), default=list, server_default="{}"
    )
    author_user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )


_T = TypeVar("_T")


def _latest_record(column: QueryableAttribute[_T]) -> sa.ScalarSelect[_T]:
    return (
        sa.select(column)
        .where(MaintenanceRecord.schedule_id == MaintenanceSchedule.id)
        .order_by(MaintenanceRecord.performed_at.desc(), MaintenanceRecord.id.desc())
        .limit(1)
        .correlate_except(MaintenanceRecord)
        .scalar_subquery()
    )


_first_km = (
    sa.select(OdometerReading.km)
    .where(
        OdometerReading.vehicle_id == MaintenanceSchedule.vehicle_id,
        OdometerReading.voided_at.is_(None),
    )
    .order_by(OdometerReading.read_at, OdometerReading.km)
    .limit(1)
    .correlate_except(OdometerReading)
    .scalar_subquery()
)
_one_day: sa.ColumnClause[Any] = sa.literal_column("interval '1 day'")
_current_km = current_km(MaintenanceSchedule.vehicle_id)
_due_at = (
    sa.func.coalesce(_latest_record(MaintenanceRecord.performed_at), MaintenanceSchedule.created_at)
    + _one_day * MaintenanceSchedule.every_days
)
_due_km = (
    sa.func.coalesce(_latest_record(MaintenanceRecord.odometer_km), _first_km)
    + MaintenanceSchedule.every_km
)
_now = sa.func.now()

# Null parts (no interval in km, or no reading yet) compare as unknown: never due.
MaintenanceSchedule.last_done_at = column_property(_latest_record(MaintenanceRecord.performed_at))
MaintenanceSchedule.current_km = column_property(_current_km)
MaintenanceSchedule.due_at = column_property(_due_at)
MaintenanceSchedule.due_km = column_property(_due_km)
MaintenanceSchedule.status = column_property(
    sa.case(
        (sa.or_(_current_km > _due_km, _now > _due_at), "overdue"),
        (
            sa.or_(
                _due_km - _current_km <= DUE_SOON_KM,
                _due_at - _now <= _one_day * DUE_SOON_DAYS,
            ),
            "due_soon",
        ),
        else_="ok",
    )
)
