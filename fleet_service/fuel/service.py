"""Fuel log rules: the fuel a vehicle takes and holds, prices that add up, who logs what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.drivers.service import ensure_caller_active
from fleet_service.drivers.users import FindUser
from fleet_service.fuel.models import FuelLog
from fleet_service.media_files import FindFile, check_files
from fleet_service.odometer.service import check_not_in_future, record_reading
from fleet_service.vehicles.models import Vehicle
from fleet_service.vehicles.service import vehicle_to_record_on
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, at_or_after, before, equals

# Pumps round the total to the cent: litres * unit price may differ from it by that much.
PRICE_TOLERANCE = Decimal("0.01")


def log_fuel(
    *,
    db_session: Session,
    identity: Identity,
    find_file: FindFile,
    find_user: FindUser,
    vehicle_id: uuid.UUID,
    odometer_km: int,
    fuel_type: str,
    liters: Decimal,
    total_cost: Decimal,
    full_tank: bool,
    filled_at: datetime | None = None,
    unit_price: Decimal | None = None,
    missed_previous: bool = False,
    station: str | None = None,
    receipt_media_id: uuid.UUID | None = None,
    confirm: bool = False,
) -> FuelLog:
    """Log a fill and its odometer reading (source "fuel"), committed together.

    A driver logs fills only for a vehicle assigned to them. The fuel must be one
    the vehicle takes and the litres fit in its tank; a unit price, when given,
    must agree with the total (422). The receipt must be a file the caller may attach.
    A driver's account must be active (409 ``driver_inactive``).
    """
    filled_at = filled_at or datetime.now(UTC)
    check_not_in_future(filled_at, field="filled_at")
    # Before any row is locked: the auth and media services answer over the network.
    _check_caller_and_receipt(identity, find_user, find_file, receipt_media_id)
    vehicle = vehicle_to_record_on(db_session=db_session, identity=identity, vehicle_id=vehicle_id)
    _check_fill_fits(vehicle, fuel_type, liters, total_cost, unit_price)
    author = caller_user_id(identity)
    reading = record_reading(
        db_session=db_session,
        vehicle_id=vehicle.id,
        km=odometer_km,
        read_at=filled_at,
        source="fuel",
        author_user_id=author,
        confirm=confirm,
    )
    log = FuelLog(
        vehicle_id=vehicle.id,
        filled_at=filled_at,
        odometer_km=odometer_km,
        odometer_reading_id=reading.id,
        fuel_type=fuel_type,
        liters=liters,
        total_cost=total_cost,
        full_tank=full_tank,
        missed_previous=missed_previous,
        station=station,
        receipt_media_id=receipt_media_id,
        author_user_id=author,
    )
    db_session.add(log)
    db_session.commit()
    return log


def _check_caller_and_receipt(
    identity: Identity,
    find_user: FindUser,
    find_file: FindFile,
    receipt_media_id: uuid.UUID | None,
) -> None:
    """409 if the caller's account is inactive; 422 if the receipt is not theirs to attach."""
    ensure_caller_active(identity, find_user=find_user)
    if receipt_media_id is not None:
        check_files(
            [receipt_media_id], identity=identity, find_file=find_file, field="receipt_media_id"
        )


def _check_fill_fits(
    vehicle: Vehicle,
    fuel_type: str,
    liters: Decimal,
    total_cost: Decimal,
    unit_price: Decimal | None,
) -> None:
    """422 naming each field unless the fill is of a fuel the vehicle takes, fits its tank
    and, with a unit price, adds up to the total."""
    problems: dict[str, list[str]] = {}
    if fuel_type not in vehicle.fuel_types:
        problems["fuel_type"] = [f"the vehicle takes {', '.join(vehicle.fuel_types)}"]
    if vehicle.tank_capacity_l is not None and liters > vehicle.tank_capacity_l:
        problems["liters"] = [f"more than the tank holds ({vehicle.tank_capacity_l} L)"]
    if unit_price is not None and abs(liters * unit_price - total_cost) > PRICE_TOLERANCE:
        problems["unit_price"] = [
            f"liters * unit_price must equal total_cost within {PRICE_TOLERANCE}"
        ]
    if problems:
        raise APIError(422, details=problems)


FUEL_LOGS = Records(
    FuelLog,
    not_found=("fuel_log_not_found", "No such fuel log"),
    # A driver sees the fills they logged.
    drivers_see=lambda identity: FuelLog.author_user_id == caller_user_id(identity),
    order_by=[FuelLog.filled_at, FuelLog.id],
    descending=True,
    filters={
        "vehicle_id": equals(FuelLog.vehicle_id),
        "fuel_type": equals(FuelLog.fuel_type),
        "filled_from": at_or_after(FuelLog.filled_at),
        "filled_before": before(FuelLog.filled_at),
    },
)
