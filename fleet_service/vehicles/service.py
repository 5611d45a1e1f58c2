"""Vehicle rules: plates, VINs, the registry, retirement and who may see what."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, undefer

from fleet_service.assignments.models import Assignment
from fleet_service.callers import caller_user_id
from fleet_service.drivers.models import Driver
from fleet_service.trips.models import Trip
from fleet_service.vehicles.models import STATUSES, Vehicle
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, equals, text, unless_included

# Brazilian plates: the old ABC1234 and Mercosul ABC1D23 (one pattern covers both).
BRAZILIAN_PLATE = re.compile(r"^[A-Z]{3}[0-9][A-Z0-9][0-9]{2}$")


def check_plate(plate: str, *, plate_format: str) -> str:
    """The plate, already in the schema's form (vehicles.schemas.plate); 422 unless it
    is also one of the deployment's (PLATE_FORMAT=br: Brazilian plates only)."""
    if plate_format == "br" and not BRAZILIAN_PLATE.match(plate):
        raise APIError(422, details={"plate": ["must be a valid plate (ABC1234 or ABC1D23)"]})
    return plate


def max_model_year() -> int:
    # Manufacturers sell next year's model from mid-year on.
    return date.today().year + 1


def check_year(year: int) -> None:
    if year > max_model_year():
        raise APIError(422, details={"year": [f"must be at most {max_model_year()}"]})


def create_vehicle(
    *,
    db_session: Session,
    plate: str,
    make: str,
    model: str,
    year: int,
    fuel_types: list[str],
    plate_format: str,
    vin: str | None = None,
    tank_capacity_l: Decimal | None = None,
    status: str = "active",
) -> Vehicle:
    """Register a vehicle; 409 when its plate or VIN belongs to one in service."""
    check_year(year)
    vehicle = Vehicle(
        plate=check_plate(plate, plate_format=plate_format),
        vin=vin,
        make=make,
        model=model,
        year=year,
        fuel_types=sorted(set(fuel_types)),
        tank_capacity_l=tank_capacity_l,
        status=status,
    )
    db_session.add(vehicle)
    db_session.commit()
    return vehicle


def lock_vehicle(db_session: Session, vehicle_id: uuid.UUID) -> Vehicle | None:
    """Read the vehicle and lock its row until the transaction ends.

    Writers that check a vehicle's state before acting on it (odometer readings,
    check-outs, assignments, retirement) take this lock first, so they run one after
    another per vehicle. FOR NO KEY UPDATE, not FOR UPDATE: inserts that merely
    reference the vehicle (their foreign-key check) need not wait for it.
    """
    return db_session.scalar(
        sa.select(Vehicle)
        .where(Vehicle.id == vehicle_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def update_vehicle(
    *, db_session: Session, vehicle_id: uuid.UUID, plate_format: str, changes: dict[str, Any]
) -> Vehicle:
    """Change a vehicle in service; a retired one is history and stays as it was (409)."""
    vehicle = lock_vehicle(db_session, vehicle_id)
    if vehicle is None:
        raise APIError(404, "vehicle_not_found", "No such vehicle")
    if vehicle.retired_at is not None:
        raise APIError(409, "vehicle_retired", "A retired vehicle cannot be changed")
    if "plate" in changes:
        vehicle.plate = check_plate(changes["plate"], plate_format=plate_format)
    if "year" in changes:
        check_year(changes["year"])
        vehicle.year = changes["year"]
    if "fuel_types" in changes:
        vehicle.fuel_types = sorted(set(changes["fuel_types"]))
    for name in ("vin", "make", "model", "tank_capacity_l", "status"):
        if name in changes:
            setattr(vehicle, name, changes[name])
    db_session.commit()
    return vehicle


def retire_vehicle(*, db_session: Session, vehicle_id: uuid.UUID) -> Vehicle:
    """Take a vehicle out of service: its history stays, its plate and VIN are freed.

    Refused (409) while it is out on a trip or has an assignment not yet ended: those
    are ended first, deliberately, by whoever manages them. Retiring twice is harmless.
    """
    vehicle = lock_vehicle(db_session, vehicle_id)
    if vehicle is None:
        raise APIError(404, "vehicle_not_found", "No such vehicle")
    if vehicle.retired_at is not None:
        return vehicle
    now = datetime.now(UTC)
    open_trip = sa.select(Trip.id).where(Trip.vehicle_id == vehicle_id, Trip.ended_at.is_(None))
    if db_session.scalar(open_trip) is not None:
        raise APIError(409, "vehicle_in_use", "The vehicle is out on a trip; check it in first")
    pending_assignment = sa.select(Assignment.id).where(
        Assignment.vehicle_id == vehicle_id,
        sa.or_(Assignment.ends_at.is_(None), Assignment.ends_at > now),
    )
    if db_session.scalar(pending_assignment) is not None:
        raise APIError(
            409, "vehicle_in_use", "The vehicle has an assignment not yet ended; end it first"
        )
    vehicle.retired_at = now
    db_session.commit()
    return vehicle


def assigned_now(identity: Identity) -> sa.Select[uuid.UUID]:
    """The ids of the vehicles assigned to the calling user (as a driver) now."""
    return (
        sa.select(Assignment.vehicle_id)
        .join(Driver, Driver.id == Assignment.driver_id)
        .where(Driver.user_id == caller_user_id(identity), Assignment.active_at(datetime.now(UTC)))
    )


def _matching(text: str) -> sa.ColumnElement[bool]:
    """Vehicles whose plate, make or model contain ``text``."""
    # Plates are stored normalised, so "abc-12" must find ABC1234.
    plate = re.sub(r"[^A-Za-z0-9]", "", text).upper()
    return sa.or_(
        Vehicle.plate.contains(plate, autoescape=True) if plate else sa.false(),
        Vehicle.make.icontains(text, autoescape=True),
        Vehicle.model.icontains(text, autoescape=True),
    )


# Retired vehicles are seen too (history is kept), but listed only when asked for.
VEHICLES = Records(
    Vehicle,
    not_found=("vehicle_not_found", "No such vehicle"),
    # A driver sees the vehicles assigned to them now.
    drivers_see=lambda identity: Vehicle.id.in_(assigned_now(identity)),
    options=[undefer(Vehicle.odometer_km)],
    filters={
        "status": equals(Vehicle.status, choices=STATUSES),
        "q": text(_matching, max_length=60),
        "include_retired": unless_included(lambda: Vehicle.retired_at.is_(None)),
    },
    # The listing's ?sort= keys; each is paginated with the id as tie-breaker.
    sorts={
        "created_at": [Vehicle.created_at, Vehicle.id],
        "plate": [Vehicle.plate, Vehicle.id],
        "year": [Vehicle.year, Vehicle.id],
    },
)


def vehicle_to_record_on(
    *, db_session: Session, identity: Identity, vehicle_id: uuid.UUID
) -> Vehicle:
    """The vehicle a new record (fuel log, inspection, maintenance…) is about.

    It must be one the caller may see — for a driver, one assigned to them now — or
    the body's vehicle_id is refused (422), exactly as for an unknown one; a retired
    vehicle is history and takes no new records (409).
    """
    vehicle = db_session.scalar(VEHICLES.select(identity).where(Vehicle.id == vehicle_id))
    if vehicle is None:
        raise APIError(422, details={"vehicle_id": ["no such vehicle"]})
    if vehicle.retired_at is not None:
        raise APIError(409, "vehicle_retired", "A retired vehicle takes no new records")
    return vehicle
