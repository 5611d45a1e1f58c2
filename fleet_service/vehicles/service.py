"""Vehicle rules: plates, VINs, the registry and who may see what."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.vehicles.models import Vehicle
from fleet_service.vehicles.schemas import max_model_year
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.pagination import Page, paginate

# Brazilian plates: the old ABC1234 and Mercosul ABC1D23 (one pattern covers both).
PLATE_PATTERNS = {
    "br": re.compile(r"^[A-Z]{3}[0-9][A-Z0-9][0-9]{2}$"),
    # Other countries: letters and digits, 2 to 10 of them once separators go.
    "any": re.compile(r"^[A-Z0-9]{2,10}$"),
}
# 17 characters; I, O and Q are never used in VINs (confusable with 1 and 0).
VIN_PATTERN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")


def normalize_plate(raw: str, *, plate_format: str) -> str:
    """Upper-case the plate and drop separators; 422 unless it matches the format."""
    plate = re.sub(r"[^A-Za-z0-9]", "", raw).upper()
    pattern = PLATE_PATTERNS.get(plate_format, PLATE_PATTERNS["br"])
    if not pattern.match(plate):
        expected = "ABC1234 or ABC1D23" if plate_format == "br" else "2 to 10 letters or digits"
        raise APIError(422, details={"plate": [f"must be a valid plate ({expected})"]})
    return plate


def normalize_vin(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    vin = raw.strip().upper()
    if not VIN_PATTERN.match(vin):
        raise APIError(422, details={"vin": ["must be 17 letters or digits, without I, O or Q"]})
    return vin


def _conflict_from(exc: sa.exc.IntegrityError) -> APIError:
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", "") or ""
    if "vin" in constraint:
        return APIError(409, "vin_taken", "Another vehicle in service has this VIN")
    return APIError(409, "plate_taken", "Another vehicle in service has this plate")


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
    if year > max_model_year():
        raise APIError(422, details={"year": [f"must be at most {max_model_year()}"]})
    vehicle = Vehicle(
        plate=normalize_plate(plate, plate_format=plate_format),
        vin=normalize_vin(vin),
        make=make.strip(),
        model=model.strip(),
        year=year,
        fuel_types=sorted(set(fuel_types)),
        tank_capacity_l=tank_capacity_l,
        status=status,
    )
    db_session.add(vehicle)
    try:
        db_session.commit()
    except sa.exc.IntegrityError as exc:
        db_session.rollback()
        raise _conflict_from(exc) from None
    return vehicle


def visible_vehicles(identity: Identity) -> sa.Select[tuple[Vehicle]]:
    """The vehicles ``identity`` may see (drivers: none until assignments exist)."""
    stmt = sa.select(Vehicle)
    if not identity.is_manager:
        stmt = stmt.where(sa.false())
    return stmt


def get_vehicle(*, db_session: Session, identity: Identity, vehicle_id: uuid.UUID) -> Vehicle:
    vehicle = db_session.scalar(visible_vehicles(identity).where(Vehicle.id == vehicle_id))
    if vehicle is None:
        raise APIError(404, "vehicle_not_found", "No such vehicle")
    return vehicle


def list_vehicles(
    *,
    db_session: Session,
    identity: Identity,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    q: str | None = None,
) -> Page:
    stmt = visible_vehicles(identity)
    if status:
        stmt = stmt.where(Vehicle.status == status)
    if q:
        pattern = f"%{q.strip()}%"
        stmt = stmt.where(
            sa.or_(
                Vehicle.plate.ilike(pattern),
                Vehicle.make.ilike(pattern),
                Vehicle.model.ilike(pattern),
            )
        )
    return paginate(
        db_session, stmt, order_by=[Vehicle.created_at, Vehicle.id], limit=limit, cursor=cursor
    )
