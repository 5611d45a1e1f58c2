"""Test data, made through the domain functions so that it obeys every rule."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from auth_service import service as auth
from auth_service.models import User
from fleet_service.assignments import service as assignments
from fleet_service.assignments.models import Assignment
from fleet_service.documents import service as documents
from fleet_service.documents.models import Document
from fleet_service.drivers import service as drivers
from fleet_service.drivers.models import Driver
from fleet_service.drivers.users import AuthUser
from fleet_service.fuel import service as fuel
from fleet_service.fuel.models import FuelLog
from fleet_service.maintenance import service as maintenance
from fleet_service.maintenance.models import MaintenanceRecord, MaintenanceSchedule
from fleet_service.vehicles import service as vehicles
from fleet_service.vehicles.models import Vehicle
from shared.config import Settings
from shared.db import make_engine
from shared.internal_auth import Identity

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


def committed_manager(settings: Settings, password: str) -> tuple[str, str]:
    """A manager committed to the database of ``settings`` on a connection of its own, as a
    running stack sees it: (id, username). The username is unique across runs."""
    engine = make_engine(settings.database_url or "", settings)
    try:
        with Session(engine) as session:
            user, _ = auth.create_user(
                db_session=session,
                username=f"m-{uuid.uuid4().hex[:10]}",
                full_name="Manager",
                role="manager",
                password=password,
            )
            return str(user.id), user.username
    finally:
        engine.dispose()


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


def active_user(user_id: uuid.UUID) -> AuthUser:
    """An auth service that knows every user as an active driver (the rule has its own tests)."""
    return AuthUser(id=user_id, full_name="Active Driver", role="driver", is_active=True)


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
        find_user=active_user,
        vehicle_id=vehicle.id,
        driver_id=driver.id,
        starts_at=starts_at or datetime.now(UTC) - timedelta(hours=1),
        ends_at=ends_at,
    )


def manager_identity() -> Identity:
    """A manager acting through the gateway (no driver record)."""
    return Identity(
        user_id=str(uuid.uuid4()), role="manager", caller="gateway", request_id=uuid.uuid4().hex
    )


def no_files(_file_id: uuid.UUID) -> None:
    """A media service without files, for records made without attachments."""
    return None


def make_fuel_log(
    db_session: Session,
    *,
    vehicle: Vehicle,
    km: int,
    liters: str | Decimal,
    filled_at: datetime,
    full_tank: bool = True,
    fuel_type: str = "gasoline",
    total_cost: str | Decimal | None = None,
    identity: Identity | None = None,
    **fields: Any,
) -> FuelLog:
    """A fill at ``filled_at`` (at 5.00 a litre unless ``total_cost`` says otherwise)."""
    liters = Decimal(liters)
    return fuel.log_fuel(
        db_session=db_session,
        identity=identity or manager_identity(),
        find_file=no_files,
        find_user=active_user,
        vehicle_id=vehicle.id,
        odometer_km=km,
        fuel_type=fuel_type,
        liters=liters,
        total_cost=Decimal(total_cost) if total_cost is not None else liters * 5,
        full_tank=full_tank,
        filled_at=filled_at,
        confirm=True,
        **fields,
    )


def make_schedule(
    db_session: Session,
    *,
    vehicle: Vehicle,
    every_km: int | None = None,
    every_days: int | None = None,
    name: str = "Oil change",
) -> MaintenanceSchedule:
    return maintenance.create_schedule(
        db_session=db_session,
        identity=manager_identity(),
        vehicle_id=vehicle.id,
        name=name,
        every_km=every_km,
        every_days=every_days,
    )


def make_maintenance_record(
    db_session: Session,
    *,
    vehicle: Vehicle,
    km: int,
    performed_at: datetime,
    schedule: MaintenanceSchedule | None = None,
    cost: str | Decimal = "0",
) -> MaintenanceRecord:
    return maintenance.record_maintenance(
        db_session=db_session,
        identity=manager_identity(),
        find_file=no_files,
        vehicle_id=vehicle.id,
        schedule_id=schedule.id if schedule else None,
        odometer_km=km,
        performed_at=performed_at,
        cost=Decimal(cost),
        confirm=True,
    )


def make_document(
    db_session: Session,
    *,
    valid_until: date | None,
    vehicle: Vehicle | None = None,
    driver: Driver | None = None,
    type: str = "insurance",
    **fields: Any,
) -> Document:
    """A document of ``vehicle`` or of ``driver``."""
    return documents.add_document(
        db_session=db_session,
        identity=manager_identity(),
        find_file=no_files,
        vehicle_id=vehicle.id if vehicle else None,
        driver_id=driver.id if driver else None,
        type=type,
        number=f"DOC{next(_counter)}",
        valid_until=valid_until,
        **fields,
    )
