"""Test data, made through the domain functions so that it obeys every rule."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from auth_service import service as auth
from auth_service.models import User
from fleet_service.assignments import service as assignments
from fleet_service.assignments.models import Assignment
from fleet_service.drivers import service as drivers
from fleet_service.drivers.models import Driver
from fleet_service.drivers.users import AuthUser
from fleet_service.vehicles import service as vehicles
from fleet_service.vehicles.models import Vehicle

DEFAULT_PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def make_user(db_session: Session, *, role: str = "driver", **fields: Any) -> User:
    n = next(_counter)
    values = {
        "username": f"user{n}",
        "full_name": f"User {n}",
        "email": f"user{n}@example.com",
        "password": DEFAULT_PASSWORD,
        **fields,
    }
    user, _ = auth.create_user(db_session=db_session, role=role, **values)
    return user


def plate_for(n: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return f"{letters[n // 676 % 26]}{letters[n // 26 % 26]}{letters[n % 26]}{n % 10000:04d}"


def make_vehicle(db_session: Session, **fields: Any) -> Vehicle:
    n = next(_counter)
    values = {
        "plate": plate_for(n),
        "make": "Fiat",
        "model": "Strada",
        "year": 2022,
        "fuel_types": ["gasoline", "ethanol"],
        "plate_format": "br",
        **fields,
    }
    return vehicles.create_vehicle(db_session=db_session, **values)


def make_driver(db_session: Session, *, user: User | None = None, **fields: Any) -> Driver:
    """A driver linked to ``user`` (a new driver user by default)."""
    user = user or make_user(db_session, role="driver")
    linked = AuthUser(
        id=user.id, full_name=user.full_name, role=user.role, is_active=user.is_active
    )
    values = {
        "license_number": f"{next(_counter):011d}",
        "license_category": "B",
        "license_expires_on": date(2031, 12, 31),
        **fields,
    }
    return drivers.create_driver(
        db_session=db_session, find_user=lambda _user_id: linked, user_id=user.id, **values
    )


def make_assignment(
    db_session: Session,
    *,
    vehicle: Vehicle,
    driver: Driver,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Assignment:
    """``driver`` has ``vehicle`` from an hour ago (by default), open-ended."""
    return assignments.create_assignment(
        db_session=db_session,
        vehicle_id=vehicle.id,
        driver_id=driver.id,
        starts_at=starts_at or datetime.now(UTC) - timedelta(hours=1),
        ends_at=ends_at,
    )
