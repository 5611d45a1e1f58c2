"""Trip rules: check-out and check-in, one open trip per vehicle and per driver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.assignments.models import Assignment
from fleet_service.callers import caller_user_id, own_driver_ids
from fleet_service.drivers.models import Driver
from fleet_service.drivers.service import driver_of, ensure_caller_active, ensure_user_active
from fleet_service.drivers.users import FindUser
from fleet_service.events import record_event
from fleet_service.odometer.service import record_reading
from fleet_service.trips.models import Trip
from fleet_service.vehicles.service import lock_vehicle
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, equals, flag, period


def _trip_already_open(whose: str) -> APIError:
    return APIError(409, "trip_already_open", f"The {whose} is already out on a trip")


def _driver_checking_out(
    db_session: Session, identity: Identity, driver_id: uuid.UUID | None
) -> Driver:
    """Managers name the driver; a driver checks out as themselves."""
    if identity.is_manager:
        if driver_id is None:
            raise APIError(422, details={"driver_id": ["required when a manager checks out"]})
        driver = db_session.get(Driver, driver_id)
        if driver is None:
            raise APIError(422, details={"driver_id": ["no such driver"]})
        return driver
    driver = driver_of(db_session, identity)
    if driver is None:
        raise APIError(403, "driver_record_required", "You have no driver record")
    if driver_id not in (None, driver.id):
        raise APIError(403, "forbidden", "Drivers check out as themselves")
    return driver


def _is_assigned(
    db_session: Session, *, driver_id: uuid.UUID, vehicle_id: uuid.UUID, moment: datetime
) -> bool:
    assignment = sa.select(Assignment.id).where(
        Assignment.driver_id == driver_id,
        Assignment.vehicle_id == vehicle_id,
        Assignment.active_at(moment),
    )
    return db_session.scalar(assignment) is not None


def check_out_trip(
    *,
    db_session: Session,
    identity: Identity,
    find_user: FindUser,
    vehicle_id: uuid.UUID,
    odometer_km: int,
    purpose: str,
    driver_id: uuid.UUID | None = None,
    confirm: bool = False,
) -> Trip:
    """Start a trip: the trip and its start reading are committed together or not at all.

    A driver may only take a vehicle assigned to them now. The driver's user account
    must be active (409 ``driver_inactive``), whoever checks out. The vehicle must be
    active and not retired (409), and neither it nor the driver already out (409).
    """
    now = datetime.now(UTC)
    driver = _driver_checking_out(db_session, identity, driver_id)
    # Before any row is locked: the auth service answers over the network.
    ensure_user_active(driver.user_id, find_user=find_user)
    _lock_available_vehicle(db_session, identity, driver.id, vehicle_id, now)
    # Checked before the start reading so that a vehicle on a trip is answered as
    # such, not as an odometer conflict with that trip's readings.
    _ensure_no_open_trip(db_session, vehicle_id, driver.id)
    reading = record_reading(
        db_session=db_session,
        vehicle_id=vehicle_id,
        km=odometer_km,
        read_at=now,
        source="trip_start",
        author_user_id=caller_user_id(identity),
        confirm=confirm,
    )
    trip = Trip(
        vehicle_id=vehicle_id,
        driver_id=driver.id,
        purpose=purpose,
        started_at=now,
        start_km=odometer_km,
        start_reading_id=reading.id,
    )
    db_session.add(trip)
    # The driver may have checked out another vehicle at the same moment: the
    # unique index refuses it here (fleet_service.constraints answers), event and all.
    db_session.flush()
    record_event(db_session, "trip.checked_out", trip_event_data(trip))
    db_session.commit()
    return trip


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def trip_event_data(trip: Trip) -> dict[str, Any]:
    """The trip as its events carry it: the fields of the API's trip, JSON-ready."""
    return {
        "id": str(trip.id),
        "vehicle_id": str(trip.vehicle_id),
        "vehicle_plate": trip.vehicle_plate,
        "driver_id": str(trip.driver_id),
        "purpose": trip.purpose,
        "started_at": _utc(trip.started_at),
        "start_km": trip.start_km,
        "start_reading_id": str(trip.start_reading_id),
        "ended_at": _utc(trip.ended_at),
        "end_km": trip.end_km,
        "end_reading_id": None if trip.end_reading_id is None else str(trip.end_reading_id),
        "distance_km": trip.distance_km,
    }


def _lock_available_vehicle(
    db_session: Session,
    identity: Identity,
    driver_id: uuid.UUID,
    vehicle_id: uuid.UUID,
    now: datetime,
) -> None:
    """Lock the vehicle for ``driver_id``'s check-out: 422 if not theirs, 409 if out of use.

    The lock orders check-outs of one vehicle; the unique indexes guard the rest.
    """
    vehicle = lock_vehicle(db_session, vehicle_id)
    if vehicle is None:
        raise APIError(422, details={"vehicle_id": ["no such vehicle"]})
    if not identity.is_manager and not _is_assigned(
        db_session, driver_id=driver_id, vehicle_id=vehicle_id, moment=now
    ):
        # The same answer as for an unknown vehicle: a driver may not see others.
        raise APIError(422, details={"vehicle_id": ["no such vehicle"]})
    if vehicle.retired_at is not None or vehicle.status != "active":
        state = "retired" if vehicle.retired_at is not None else vehicle.status
        raise APIError(409, "vehicle_unavailable", f"The vehicle is {state}")


def _ensure_no_open_trip(db_session: Session, vehicle_id: uuid.UUID, driver_id: uuid.UUID) -> None:
    """409 if the vehicle or the driver is already out on a trip."""
    open_trip = db_session.scalar(
        sa.select(Trip)
        .where(
            Trip.ended_at.is_(None),
            sa.or_(Trip.vehicle_id == vehicle_id, Trip.driver_id == driver_id),
        )
        .limit(1)
    )
    if open_trip is not None:
        raise _trip_already_open("vehicle" if open_trip.vehicle_id == vehicle_id else "driver")


TRIPS = Records(
    Trip,
    not_found=("trip_not_found", "No such trip"),
    # A driver sees their own trips.
    drivers_see=lambda identity: Trip.driver_id.in_(own_driver_ids(identity)),
    order_by=[Trip.started_at, Trip.id],
    descending=True,
    filters={
        "vehicle_id": equals(Trip.vehicle_id),
        "driver_id": equals(Trip.driver_id),
        **period(Trip.started_at, verb="started"),
        "open": flag(lambda: Trip.ended_at.is_(None), description="Not yet checked in"),
    },
)


def check_in_trip(
    *,
    db_session: Session,
    identity: Identity,
    find_user: FindUser,
    trip_id: uuid.UUID,
    odometer_km: int,
    confirm: bool = False,
) -> Trip:
    """End a trip with its end reading (at least the start: 409), committed together.

    A driver whose account was deactivated meanwhile may not (409 ``driver_inactive``);
    a manager may, so that the vehicle is never left out on the trip.
    """
    # Before the trip is locked: the auth service answers over the network.
    ensure_caller_active(identity, find_user=find_user)
    trip = TRIPS.get(db_session, identity, trip_id, for_update=True)
    if trip.ended_at is not None:
        raise APIError(409, "trip_already_closed", "The trip has already been checked in")
    if odometer_km < trip.start_km:
        raise APIError(
            409,
            "odometer_not_monotonic",
            "The odometer is below the trip's start",
            details={"odometer_km": [f"must be at least the start, {trip.start_km} km"]},
        )
    now = datetime.now(UTC)
    reading = record_reading(
        db_session=db_session,
        vehicle_id=trip.vehicle_id,
        km=odometer_km,
        read_at=now,
        source="trip_end",
        author_user_id=caller_user_id(identity),
        confirm=confirm,
    )
    trip.ended_at = now
    trip.end_km = odometer_km
    trip.end_reading_id = reading.id
    record_event(db_session, "trip.checked_in", trip_event_data(trip))
    db_session.commit()
    return trip
