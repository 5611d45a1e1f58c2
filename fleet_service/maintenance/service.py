"""Maintenance rules: schedules per vehicle, records of work done with their odometer reading."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.maintenance.models import MaintenanceRecord, MaintenanceSchedule
from fleet_service.media_files import FindFile, check_files
from fleet_service.odometer.service import check_not_in_future, record_reading
from fleet_service.vehicles.service import vehicle_to_record_on
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, at_or_after, before, equals


def create_schedule(
    *,
    db_session: Session,
    identity: Identity,
    vehicle_id: uuid.UUID,
    name: str,
    every_km: int | None = None,
    every_days: int | None = None,
) -> MaintenanceSchedule:
    """Plan recurring work on a vehicle, every ``every_km`` and/or every ``every_days``."""
    vehicle = vehicle_to_record_on(db_session=db_session, identity=identity, vehicle_id=vehicle_id)
    schedule = MaintenanceSchedule(
        vehicle_id=vehicle.id,
        name=name,
        every_km=every_km,
        every_days=every_days,
        author_user_id=caller_user_id(identity),
    )
    db_session.add(schedule)
    db_session.commit()
    # Read back with its due state, which the database derives.
    db_session.refresh(schedule)
    return schedule


# Managers only (the routes say so): no rule of their own for drivers.
SCHEDULES = Records(
    MaintenanceSchedule,
    not_found=("schedule_not_found", "No such maintenance schedule"),
    order_by=[MaintenanceSchedule.created_at, MaintenanceSchedule.id],
    filters={
        "vehicle_id": equals(MaintenanceSchedule.vehicle_id),
        "status": equals(MaintenanceSchedule.status),
    },
)
RECORDS = Records(
    MaintenanceRecord,
    not_found=("maintenance_record_not_found", "No such maintenance record"),
    order_by=[MaintenanceRecord.performed_at, MaintenanceRecord.id],
    descending=True,
    filters={
        "vehicle_id": equals(MaintenanceRecord.vehicle_id),
        "schedule_id": equals(MaintenanceRecord.schedule_id),
        "performed_from": at_or_after(MaintenanceRecord.performed_at),
        "performed_before": before(MaintenanceRecord.performed_at),
    },
)


def record_maintenance(
    *,
    db_session: Session,
    identity: Identity,
    find_file: FindFile,
    vehicle_id: uuid.UUID,
    odometer_km: int,
    cost: Decimal,
    schedule_id: uuid.UUID | None = None,
    performed_at: datetime | None = None,
    vendor: str | None = None,
    notes: str | None = None,
    media_ids: list[uuid.UUID] | None = None,
    confirm: bool = False,
) -> MaintenanceRecord:
    """Record work done and its odometer reading (source "maintenance"), committed together.

    Done under a schedule (of the same vehicle, else 422), it restarts that schedule's
    count from this record's date and km.
    """
    performed_at = performed_at or datetime.now(UTC)
    check_not_in_future(performed_at, field="performed_at")
    media_ids = list(dict.fromkeys(media_ids or []))
    # Before any row is locked: the media service answers over the network.
    check_files(media_ids, identity=identity, find_file=find_file, field="media_ids")
    vehicle = vehicle_to_record_on(db_session=db_session, identity=identity, vehicle_id=vehicle_id)
    if schedule_id is not None:
        schedule = db_session.get(MaintenanceSchedule, schedule_id)
        if schedule is None or schedule.vehicle_id != vehicle.id:
            raise APIError(422, details={"schedule_id": ["no such schedule of this vehicle"]})
    author = caller_user_id(identity)
    reading = record_reading(
        db_session=db_session,
        vehicle_id=vehicle.id,
        km=odometer_km,
        read_at=performed_at,
        source="maintenance",
        author_user_id=author,
        confirm=confirm,
    )
    record = MaintenanceRecord(
        vehicle_id=vehicle.id,
        schedule_id=schedule_id,
        performed_at=performed_at,
        odometer_km=odometer_km,
        odometer_reading_id=reading.id,
        cost=cost,
        vendor=vendor,
        notes=notes,
        media_ids=media_ids,
        author_user_id=author,
    )
    db_session.add(record)
    db_session.commit()
    return record
