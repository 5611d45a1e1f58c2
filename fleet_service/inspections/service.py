"""Inspection rules: checklists of a vehicle, the workshop after a critical failure, resolution."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.drivers.models import Driver
from fleet_service.drivers.service import ensure_caller_active, ensure_user_active
from fleet_service.drivers.users import FindUser
from fleet_service.events import record_event
from fleet_service.inspections.models import SEVERITIES, Inspection, InspectionItem
from fleet_service.media_files import FindFile, unusable_files
from fleet_service.trips.models import Trip
from fleet_service.trips.service import TRIPS
from fleet_service.vehicles.service import lock_vehicle, vehicle_to_record_on
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, equals, flag


def _check_items(items: list[dict[str, Any]], *, identity: Identity, find_file: FindFile) -> None:
    """422 naming each item whose failure has no severity or whose files cannot be attached."""
    # Items often cite the same photo: look each file up once.
    find_file = functools.cache(find_file)
    problems: dict[str, dict[str, list[str]]] = {}
    for position, item in enumerate(items):
        if not item["ok"] and item["severity"] is None:
            problems.setdefault(str(position), {})["severity"] = ["required when the item failed"]
        refused = unusable_files(item["media_ids"], identity=identity, find_file=find_file)
        if refused:
            problems.setdefault(str(position), {})["media_ids"] = [
                f"no such file: {file_id}" for file_id in refused
            ]
    if problems:
        raise APIError(422, details={"items": problems})


def _failure_severity(items: list[dict[str, Any]]) -> str | None:
    failed = [SEVERITIES.index(item["severity"]) for item in items if not item["ok"]]
    return SEVERITIES[max(failed)] if failed else None


def record_inspection(
    *,
    db_session: Session,
    identity: Identity,
    find_file: FindFile,
    find_user: FindUser,
    vehicle_id: uuid.UUID,
    items: list[dict[str, Any]],
    trip_id: uuid.UUID | None = None,
) -> Inspection:
    """Record a checklist of a vehicle (a driver: one assigned to them), on a trip or not.

    Every file an item cites must be one the caller may attach (422). The driver
    involved — a driver recording it, and the driver of the trip it is on — must
    have an active user account (409 ``driver_inactive``). A failed critical item
    sends the vehicle to the workshop, in the same transaction; the failure stays
    among the alerts until a manager resolves it.
    """
    # Before any row is locked: the media and auth services answer over the network.
    _check_items(items, identity=identity, find_file=find_file)
    vehicle = vehicle_to_record_on(db_session=db_session, identity=identity, vehicle_id=vehicle_id)
    ensure_caller_active(identity, find_user=find_user)
    if trip_id is not None:
        trip = db_session.scalar(TRIPS.select(identity).where(Trip.id == trip_id))
        if trip is None or trip.vehicle_id != vehicle.id:
            raise APIError(422, details={"trip_id": ["no such trip of this vehicle"]})
        # A manager's inspection on a driver's trip is that driver's work too (a
        # driver sees only their own trips, checked above as the caller).
        if identity.is_manager:
            trip_driver = db_session.get_one(Driver, trip.driver_id)
            ensure_user_active(trip_driver.user_id, find_user=find_user)
    inspection = Inspection(
        vehicle_id=vehicle.id,
        trip_id=trip_id,
        author_user_id=caller_user_id(identity),
        failure_severity=_failure_severity(items),
        items=[
            InspectionItem(
                position=position,
                item=item["item"],
                ok=item["ok"],
                severity=item["severity"],
                note=item["note"],
                media_ids=list(dict.fromkeys(item["media_ids"])),
            )
            for position, item in enumerate(items)
        ],
    )
    db_session.add(inspection)
    if inspection.failure_severity == "critical":
        # Locked like every other change of a vehicle's state (the lock re-reads the row).
        lock_vehicle(db_session, vehicle.id)
        vehicle.status = "workshop"
    if inspection.failed:
        db_session.flush()
        record_event(db_session, "inspection.failed", _event_data(inspection))
    db_session.commit()
    return inspection


def _event_data(inspection: Inspection) -> dict[str, Any]:
    """The inspection as its event carries it: the fields of the API's inspection, JSON-ready."""
    inspected_at = inspection.inspected_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": str(inspection.id),
        "vehicle_id": str(inspection.vehicle_id),
        "trip_id": None if inspection.trip_id is None else str(inspection.trip_id),
        "author_user_id": str(inspection.author_user_id),
        "inspected_at": inspected_at,
        "failed": inspection.failed,
        "failure_severity": inspection.failure_severity,
        "items": [
            {
                "item": item.item,
                "ok": item.ok,
                "severity": item.severity,
                "note": item.note,
                "media_ids": [str(media_id) for media_id in item.media_ids],
            }
            for item in inspection.items
        ],
    }


INSPECTIONS = Records(
    Inspection,
    not_found=("inspection_not_found", "No such inspection"),
    # A driver sees the inspections they recorded.
    drivers_see=lambda identity: Inspection.author_user_id == caller_user_id(identity),
    order_by=[Inspection.inspected_at, Inspection.id],
    descending=True,
    filters={
        "vehicle_id": equals(Inspection.vehicle_id),
        "trip_id": equals(Inspection.trip_id),
        "unresolved": flag(
            lambda: sa.and_(
                Inspection.failure_severity.is_not(None), Inspection.resolved_at.is_(None)
            ),
            description="Failed and not yet resolved",
        ),
    },
)


def resolve_inspection(
    *, db_session: Session, identity: Identity, inspection_id: uuid.UUID, note: str
) -> Inspection:
    """Mark a failed inspection dealt with (its alert clears); 409 if it passed or is resolved.

    The vehicle's status is left to the manager: it leaves the workshop when they say so.
    """
    inspection = INSPECTIONS.get(db_session, identity, inspection_id, for_update=True)
    if not inspection.failed:
        raise APIError(409, "inspection_passed", "Every item passed: nothing to resolve")
    if inspection.resolved_at is not None:
        raise APIError(409, "inspection_already_resolved", "The inspection is already resolved")
    inspection.resolved_at = datetime.now(UTC)
    inspection.resolved_by_user_id = caller_user_id(identity)
    inspection.resolution_note = note
    db_session.commit()
    return inspection
