"""Test data, made through the domain functions so that it obeys every rule."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from auth_service import service as auth
from auth_service.models import User
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
