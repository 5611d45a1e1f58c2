"""Odometer ledger rules, for every writer of readings (manual entry, trips, fuel, maintenance).

Readings are appended, never edited: ordered by ``read_at``, the readings of a
vehicle that are not voided never decrease; a wrong reading is voided and a new one
entered. A vehicle's odometer is its latest reading not voided.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.drivers.service import ensure_caller_active
from fleet_service.drivers.users import FindUser
from fleet_service.odometer.models import OdometerReading
from fleet_service.vehicles.service import VEHICLES, lock_vehicle
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, unless_included

# A jump above MAX_KM_PER_DAY times the days since the previous reading is most likely
# a typo (an extra digit); readings close together may still differ by
# MIN_JUMP_ALLOWANCE_KM. Either way "confirm" accepts it.
MAX_KM_PER_DAY = 2000
MIN_JUMP_ALLOWANCE_KM = 500
# Clocks of phones and servers differ a little; a reading further ahead is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


def _describe(reading: OdometerReading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    read_at = reading.read_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"id": str(reading.id), "km": reading.km, "read_at": read_at}


def _live_readings(vehicle_id: uuid.UUID) -> sa.Select[OdometerReading]:
    return sa.select(OdometerReading).where(
        OdometerReading.vehicle_id == vehicle_id, OdometerReading.voided_at.is_(None)
    )


def _neighbours(
    db_session: Session, *, vehicle_id: uuid.UUID, read_at: datetime
) -> tuple[OdometerReading | None, OdometerReading | None]:
    """The live readings just before and just after ``read_at`` (inclusive both sides).

    A reading at the same instant counts on both sides, so readings taken at one
    instant must agree.
    """
    previous = db_session.scalar(
        _live_readings(vehicle_id)
        .where(OdometerReading.read_at <= read_at)
        .order_by(OdometerReading.read_at.desc(), OdometerReading.km.desc())
        .limit(1)
    )
    following = db_session.scalar(
        _live_readings(vehicle_id)
        .where(OdometerReading.read_at >= read_at)
        .order_by(OdometerReading.read_at, OdometerReading.km)
        .limit(1)
    )
    return previous, following


def _jump_allowance_km(previous: OdometerReading, read_at: datetime) -> int:
    """The most km a vehicle plausibly drives between ``previous`` and ``read_at``."""
    days = (read_at - previous.read_at) / timedelta(days=1)
    return max(MIN_JUMP_ALLOWANCE_KM, int(MAX_KM_PER_DAY * days))


def check_not_in_future(moment: datetime, *, field: str) -> None:
    """422 naming ``field`` when ``moment`` is further ahead than clocks plausibly differ."""
    if moment > datetime.now(UTC) + CLOCK_SKEW:
        raise APIError(422, details={field: ["must not be in the future"]})


def record_reading(
    *,
    db_session: Session,
    vehicle_id: uuid.UUID,
    km: int,
    read_at: datetime,
    source: str,
    author_user_id: uuid.UUID,
    confirm: bool = False,
    km_field: str = "odometer_km",
) -> OdometerReading:
    """Append a reading to a vehicle's ledger, in the caller's transaction.

    ``km_field`` is the name ``km`` has in the caller's body, for the 422's details.

    The vehicle row stays locked until the caller commits or rolls back, so
    concurrent writers for one vehicle check their neighbours one after another.
    409 ``odometer_not_monotonic`` when ``km`` does not fit between the readings
    before and after ``read_at``; 422 ``implausible_odometer_jump`` when it is too
    far above the previous one, unless ``confirm``. Flushed, not committed.
    """
    check_not_in_future(read_at, field="read_at")
    if lock_vehicle(db_session, vehicle_id) is None:
        raise APIError(404, "vehicle_not_found", "No such vehicle")
    previous, following = _neighbours(db_session, vehicle_id=vehicle_id, read_at=read_at)
    if (previous and km < previous.km) or (following and km > following.km):
        raise APIError(
            409,
            "odometer_not_monotonic",
            "The reading does not fit between the readings before and after it",
            details={"previous": _describe(previous), "next": _describe(following)},
        )
    if previous and not confirm:
        allowance = _jump_allowance_km(previous, read_at)
        if km - previous.km > allowance:
            raise APIError(
                422,
                "implausible_odometer_jump",
                "The reading is implausibly far above the previous one; send confirm: true "
                "if it is right",
                details={
                    km_field: [f"more than {allowance} km above the previous reading"],
                    "previous": _describe(previous),
                },
            )
    reading = OdometerReading(
        vehicle_id=vehicle_id,
        km=km,
        read_at=read_at,
        source=source,
        author_user_id=author_user_id,
    )
    db_session.add(reading)
    db_session.flush()
    return reading


def record_manual_reading(
    *,
    db_session: Session,
    identity: Identity,
    find_user: FindUser,
    vehicle_id: uuid.UUID,
    km: int,
    read_at: datetime | None = None,
    confirm: bool = False,
) -> OdometerReading:
    """A reading a user enters (now by default) on a vehicle they may see; committed.

    A driver's account must be active (409 ``driver_inactive``).
    """
    ensure_caller_active(identity, find_user=find_user)
    VEHICLES.get(db_session, identity, vehicle_id)
    reading = record_reading(
        db_session=db_session,
        vehicle_id=vehicle_id,
        km=km,
        read_at=read_at or datetime.now(UTC),
        source="manual",
        author_user_id=caller_user_id(identity),
        confirm=confirm,
        km_field="km",
    )
    db_session.commit()
    return reading


def void_reading(
    *, db_session: Session, identity: Identity, reading_id: uuid.UUID, reason: str
) -> OdometerReading:
    """Void a wrong reading, by the caller; committed.

    Removing a reading from a non-decreasing sequence leaves it non-decreasing, so
    voiding needs no neighbour check. 409 if it is already void.
    """
    reading = db_session.get(OdometerReading, reading_id, with_for_update=True)
    if reading is None:
        raise APIError(404, "reading_not_found", "No such odometer reading")
    if reading.voided_at is not None:
        raise APIError(409, "reading_already_void", "The reading is already void")
    reading.voided_at = datetime.now(UTC)
    reading.void_reason = reason
    reading.voided_by_user_id = caller_user_id(identity)
    db_session.commit()
    return reading


# A driver sees the readings they entered.
READINGS = Records(
    OdometerReading,
    not_found=("reading_not_found", "No such odometer reading"),
    drivers_see=lambda identity: OdometerReading.author_user_id == caller_user_id(identity),
    order_by=[OdometerReading.read_at, OdometerReading.id],
    descending=True,
    filters={"include_voided": unless_included(lambda: OdometerReading.voided_at.is_(None))},
)


def vehicle_readings(
    *, db_session: Session, identity: Identity, vehicle_id: uuid.UUID
) -> sa.Select[OdometerReading]:
    """The readings of a vehicle the caller may see (404 otherwise) that they may see."""
    VEHICLES.get(db_session, identity, vehicle_id)
    return READINGS.select(identity).where(OdometerReading.vehicle_id == vehicle_id)
