"""Reports of a vehicle or of the fleet over a period, computed by the database.

Each section — distance, fuel, consumption, maintenance — is one aggregate query
whatever the number of rows behind it, with the fleet's totals in the same query
(ROLLUP / GROUPING SETS); Python only puts the sections side by side.

- km driven: the odometer at the end of the period less the odometer at its start
  (the latest reading before each; the first reading in the period for a vehicle
  with none before), so consecutive periods add up.
- litres and fuel cost: the fills in the period.
- km/L: the full-tank intervals (see fuel/consumption.py) closed in the period.
- maintenance cost: the records of work performed in the period.
- cost per km: fuel and maintenance cost over km driven.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.fuel.consumption import consumption_intervals
from fleet_service.fuel.models import FuelLog
from fleet_service.maintenance.models import MaintenanceRecord
from fleet_service.odometer.models import OdometerReading
from fleet_service.vehicles.models import Vehicle
from shared.errors import APIError

# A row rolled up over every vehicle carries no vehicle id.
FLEET = None


@dataclass
class FuelTypeFigures:
    fuel_type: str
    liters: Decimal = Decimal(0)
    fuel_cost: Decimal = Decimal(0)
    fills: int = 0
    # The complete full-tank intervals behind km_per_liter.
    measured_km: int = 0
    measured_liters: Decimal = Decimal(0)
    km_per_liter: Decimal | None = None


@dataclass
class Figures:
    vehicle_id: uuid.UUID | None = None
    plate: str | None = None
    km_driven: int = 0
    liters: Decimal = Decimal(0)
    fuel_cost: Decimal = Decimal(0)
    maintenance_cost: Decimal = Decimal(0)
    fuel_types: list[FuelTypeFigures] = field(default_factory=list)

    @property
    def total_cost(self) -> Decimal:
        return self.fuel_cost + self.maintenance_cost

    @property
    def cost_per_km(self) -> Decimal | None:
        if not self.km_driven:
            return None
        return self.total_cost / self.km_driven


@dataclass
class VehicleReport:
    period_from: datetime
    period_to: datetime
    vehicle: Figures


@dataclass
class FleetReport:
    period_from: datetime
    period_to: datetime
    vehicles: list[Figures]
    totals: Figures


def _check_period(period_from: datetime, period_to: datetime) -> None:
    if period_to <= period_from:
        raise APIError(422, details={"to": ["must be after from"]})


def vehicle_report(
    *, db_session: Session, vehicle_id: uuid.UUID, period_from: datetime, period_to: datetime
) -> VehicleReport:
    """One vehicle's figures over [period_from, period_to) (retired vehicles too: history)."""
    _check_period(period_from, period_to)
    scope = sa.select(Vehicle.id).where(Vehicle.id == vehicle_id)
    figures = _figures(db_session, scope, period_from, period_to)
    if vehicle_id not in figures:
        raise APIError(404, "vehicle_not_found", "No such vehicle")
    return VehicleReport(period_from, period_to, figures[vehicle_id])


def fleet_report(*, db_session: Session, period_from: datetime, period_to: datetime) -> FleetReport:
    """Every vehicle's figures over [period_from, period_to), by plate, and the fleet's.

    Vehicles retired before the period are left out; those retired during it are in.
    """
    _check_period(period_from, period_to)
    scope = sa.select(Vehicle.id).where(
        sa.or_(Vehicle.retired_at.is_(None), Vehicle.retired_at >= period_from)
    )
    figures = _figures(db_session, scope, period_from, period_to)
    totals = figures.pop(FLEET)
    vehicles = sorted(figures.values(), key=lambda f: (f.plate or "", str(f.vehicle_id)))
    return FleetReport(period_from, period_to, vehicles, totals)


def _figures(
    db_session: Session, scope: sa.Select[Any], start: datetime, end: datetime
) -> dict[uuid.UUID | None, Figures]:
    """The figures of each vehicle in ``scope``, and of them all under FLEET."""
    figures: dict[uuid.UUID | None, Figures] = {}
    for row in db_session.execute(_distance(scope, start, end)):
        figures[row.vehicle_id] = Figures(row.vehicle_id, row.plate, int(row.km_driven))
    # The other sections cover exactly these vehicles, even if one is registered meanwhile.
    vehicle_ids = [key for key in figures if key is not FLEET]
    by_type: dict[uuid.UUID | None, dict[str, FuelTypeFigures]] = defaultdict(dict)
    for row in db_session.execute(_fuel(vehicle_ids, start, end)):
        if row.fuel_type is None:
            owner = figures[row.vehicle_id]
            owner.liters, owner.fuel_cost = row.liters, row.fuel_cost
        else:
            by_type[row.vehicle_id][row.fuel_type] = FuelTypeFigures(
                row.fuel_type, row.liters, row.fuel_cost, row.fills
            )
    for row in db_session.execute(_consumption(vehicle_ids, start, end)):
        fuel = by_type[row.vehicle_id].setdefault(row.fuel_type, FuelTypeFigures(row.fuel_type))
        fuel.measured_km, fuel.measured_liters = int(row.km), row.liters
        fuel.km_per_liter = row.km_per_liter
    for row in db_session.execute(_maintenance(vehicle_ids, start, end)):
        figures[row.vehicle_id].maintenance_cost = row.cost
    for key, fuels in by_type.items():
        figures[key].fuel_types = [fuels[name] for name in sorted(fuels)]
    return figures


def _distance(scope: sa.Select[Any], start: datetime, end: datetime) -> sa.Select[*tuple[Any, ...]]:
    readings = (
        sa.select(
            OdometerReading.vehicle_id,
            sa.func.max(OdometerReading.km).filter(OdometerReading.read_at < start).label("before"),
            sa.func.min(OdometerReading.km).filter(OdometerReading.read_at >= start).label("first"),
            sa.func.max(OdometerReading.km).label("last"),
        )
        .where(
            OdometerReading.vehicle_id.in_(scope),
            OdometerReading.voided_at.is_(None),
            OdometerReading.read_at < end,
        )
        .group_by(OdometerReading.vehicle_id)
        .subquery("readings")
    )
    driven = readings.c.last - sa.func.coalesce(readings.c.before, readings.c.first)
    return (
        sa.select(
            Vehicle.id.label("vehicle_id"),
            Vehicle.plate,
            sa.func.coalesce(sa.func.sum(driven), 0).label("km_driven"),
        )
        .outerjoin(readings, readings.c.vehicle_id == Vehicle.id)
        .where(Vehicle.id.in_(scope))
        .group_by(sa.func.rollup(sa.tuple_(Vehicle.id, Vehicle.plate)))
    )


def _fuel(
    vehicle_ids: list[uuid.UUID], start: datetime, end: datetime
) -> sa.Select[*tuple[Any, ...]]:
    vehicle, fuel_type = FuelLog.vehicle_id, FuelLog.fuel_type
    return (
        sa.select(
            vehicle.label("vehicle_id"),
            fuel_type.label("fuel_type"),
            # Coalesced: the grand total is a row even when there are no fills.
            sa.func.coalesce(sa.func.sum(FuelLog.liters), 0).label("liters"),
            sa.func.coalesce(sa.func.sum(FuelLog.total_cost), 0).label("fuel_cost"),
            sa.func.count().label("fills"),
        )
        .where(vehicle.in_(vehicle_ids), FuelLog.filled_at >= start, FuelLog.filled_at < end)
        .group_by(
            sa.func.grouping_sets(sa.tuple_(vehicle, fuel_type), vehicle, fuel_type, sa.text("()"))
        )
    )


def _consumption(
    vehicle_ids: list[uuid.UUID], start: datetime, end: datetime
) -> sa.Select[*tuple[Any, ...]]:
    intervals = consumption_intervals(vehicle_ids=vehicle_ids, until=end)
    # Unconstrained numeric: typed as the column, a sum of litres would be cast back into
    # its numeric(7, 3) for the division and overflow.
    km = sa.func.sum(intervals.c.km, type_=sa.Numeric())
    liters = sa.func.sum(intervals.c.liters, type_=sa.Numeric())
    return (
        sa.select(
            intervals.c.vehicle_id,
            intervals.c.fuel_type,
            km.label("km"),
            liters.label("liters"),
            sa.func.round(km / liters, 2).label("km_per_liter"),
        )
        .where(intervals.c.closed_at >= start)
        .group_by(
            sa.func.grouping_sets(
                sa.tuple_(intervals.c.vehicle_id, intervals.c.fuel_type), intervals.c.fuel_type
            )
        )
    )


def _maintenance(
    vehicle_ids: list[uuid.UUID], start: datetime, end: datetime
) -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(
            MaintenanceRecord.vehicle_id,
            sa.func.coalesce(sa.func.sum(MaintenanceRecord.cost), 0).label("cost"),
        )
        .where(
            MaintenanceRecord.vehicle_id.in_(vehicle_ids),
            MaintenanceRecord.performed_at >= start,
            MaintenanceRecord.performed_at < end,
        )
        .group_by(sa.func.rollup(MaintenanceRecord.vehicle_id))
    )
