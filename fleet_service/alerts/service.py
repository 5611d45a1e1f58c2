"""What needs a manager's attention now, each kind found by one query.

Only vehicles in service count (active or in the workshop): sold, inactive and
retired ones raise nothing. Drivers' documents and licenses always count.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased

from fleet_service.documents.models import Document
from fleet_service.drivers.models import Driver
from fleet_service.inspections.models import Inspection
from fleet_service.maintenance.models import MaintenanceSchedule
from fleet_service.vehicles.models import Vehicle

DEFAULT_WITHIN_DAYS = 30
KINDS = ("inspection", "maintenance", "document", "license")
STATUSES = ("failed", "overdue", "due_soon", "expired", "expiring")
IN_SERVICE = sa.and_(Vehicle.retired_at.is_(None), Vehicle.status.in_(("active", "workshop")))


@dataclass(frozen=True)
class Alert:
    kind: str
    status: str
    title: str
    subject_id: uuid.UUID
    vehicle_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    severity: str | None = None
    due_at: datetime | None = None
    due_km: int | None = None
    current_km: int | None = None
    due_on: date | None = None
    # Who the alert is about, as a person reads it (a list of alerts needs no other call).
    plate: str | None = None
    driver_name: str | None = None


def list_alerts(*, db_session: Session, within_days: int = DEFAULT_WITHIN_DAYS) -> list[Alert]:
    """Failed inspections not yet resolved, maintenance due soon or overdue, and documents
    and driver licenses expired or expiring within ``within_days`` — in that order."""
    today = datetime.now(UTC).date()
    horizon = today + timedelta(days=within_days)
    return [
        *_failed_inspections(db_session),
        *_maintenance_due(db_session),
        *_documents_expiring(db_session, today=today, horizon=horizon),
        *_licenses_expiring(db_session, today=today, horizon=horizon),
    ]


def _expiry_status(valid_until: date | None, today: date) -> str:
    # Only documents that expire are alerted on (the queries keep valid_until <= horizon).
    assert valid_until is not None
    return "expired" if valid_until < today else "expiring"


def _failed_inspections(db_session: Session) -> list[Alert]:
    rows = db_session.execute(
        sa.select(
            Inspection.id,
            Inspection.vehicle_id,
            Inspection.failure_severity,
            Inspection.inspected_at,
            Vehicle.plate,
        )
        .join(Vehicle, Vehicle.id == Inspection.vehicle_id)
        .where(
            IN_SERVICE, Inspection.failure_severity.is_not(None), Inspection.resolved_at.is_(None)
        )
        .order_by(Inspection.inspected_at)
    )
    return [
        Alert(
            kind="inspection",
            status="failed",
            title=f"Inspection failed ({row.failure_severity})",
            subject_id=row.id,
            vehicle_id=row.vehicle_id,
            severity=row.failure_severity,
            due_at=row.inspected_at,
            plate=row.plate,
        )
        for row in rows
    ]


def _maintenance_due(db_session: Session) -> list[Alert]:
    overdue_first = sa.case((MaintenanceSchedule.status == "overdue", 0), else_=1)
    rows = db_session.execute(
        sa.select(MaintenanceSchedule, Vehicle.plate)
        .join(Vehicle, Vehicle.id == MaintenanceSchedule.vehicle_id)
        .where(IN_SERVICE, MaintenanceSchedule.status != "ok")
        .order_by(overdue_first, MaintenanceSchedule.created_at)
    )
    return [
        Alert(
            kind="maintenance",
            status=schedule.status,
            title=schedule.name,
            subject_id=schedule.id,
            vehicle_id=schedule.vehicle_id,
            due_at=schedule.due_at,
            due_km=schedule.due_km,
            current_km=schedule.current_km,
            plate=plate,
        )
        for schedule, plate in rows
    ]


def _documents_expiring(db_session: Session, *, today: date, horizon: date) -> list[Alert]:
    # Only each holder's latest document of a type counts: a renewed insurance
    # supersedes the one it replaces (a document that never expires, all of them).
    latest = aliased(
        Document,
        sa.select(Document)
        .ext(postgresql.distinct_on(Document.vehicle_id, Document.driver_id, Document.type))
        .order_by(
            Document.vehicle_id,
            Document.driver_id,
            Document.type,
            Document.valid_until.desc().nulls_first(),
            Document.created_at.desc(),
        )
        .subquery("latest"),
    )
    rows = db_session.execute(
        sa.select(latest, Vehicle.plate, Driver.full_name)
        .outerjoin(Vehicle, Vehicle.id == latest.vehicle_id)
        .outerjoin(Driver, Driver.id == latest.driver_id)
        .where(
            latest.valid_until <= horizon,
            sa.or_(latest.driver_id.is_not(None), IN_SERVICE),
        )
        .order_by(latest.valid_until)
    )
    return [
        Alert(
            kind="document",
            status=_expiry_status(document.valid_until, today),
            title=f"{document.type} {document.number}",
            subject_id=document.id,
            vehicle_id=document.vehicle_id,
            driver_id=document.driver_id,
            due_on=document.valid_until,
            plate=plate,
            driver_name=driver_name,
        )
        for document, plate, driver_name in rows
    ]


def _licenses_expiring(db_session: Session, *, today: date, horizon: date) -> list[Alert]:
    drivers = db_session.scalars(
        sa.select(Driver)
        .where(Driver.license_expires_on <= horizon)
        .order_by(Driver.license_expires_on)
    )
    return [
        Alert(
            kind="license",
            status=_expiry_status(driver.license_expires_on, today),
            title=f"Driver license {driver.license_number} of {driver.full_name}",
            subject_id=driver.id,
            driver_id=driver.id,
            due_on=driver.license_expires_on,
            driver_name=driver.full_name,
        )
        for driver in drivers
    ]
