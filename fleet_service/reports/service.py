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

The monthly report gives the fleet's totals of each calendar month, by the same
definitions, for several months at once: each section is still one query, over the
whole span, bucketed by month (no per-vehicle rows come back), and one more finds the
vehicles whose km/L to measure.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import QueryableAttribute, Session

from fleet_service.fuel.consumption import consumption_intervals
from fleet_service.fuel.models import FuelLog
from fleet_service.maintenance.models import MaintenanceRecord
from fleet_service.odometer.models import OdometerReading
from fleet_service.vehicles.models import Vehicle
from shared.errors import APIError

# A row rolled up over every vehicle carries no vehicle id.
FLEET = None
# The fleet's calendar: its months begin at midnight in São Paulo, not in UTC.
FLEET_TIME_ZONE = ZoneInfo("America/Sao_Paulo")
DEFAULT_MONTHS = 6
MAX_MONTHS = 24


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


@dataclass(kw_only=True)
class MonthFigures(Figures):
    """The fleet's totals over one calendar month, ``month`` as ``YYYY-MM``."""

    month: str
    period_from: datetime
    period_to: datetime


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


def calendar_months(count: int, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """The ``count`` calendar months up to the one of ``now`` (in the fleet's time zone),
    oldest first: ``(YYYY-MM, start, end)`` each, in UTC; the last one ends in the future."""
    local = now.astimezone(FLEET_TIME_ZONE)
    current = local.year * 12 + local.month - 1

    def start(index: int) -> datetime:
        year, month = divmod(index, 12)
        return datetime(year, month + 1, 1, tzinfo=FLEET_TIME_ZONE).astimezone(UTC)

    return [
        (f"{index // 12:04d}-{index % 12 + 1:02d}", start(index), start(index + 1))
        for index in range(current - count + 1, current + 1)
    ]


def monthly_report(
    *, db_session: Session, months: int = DEFAULT_MONTHS, now: datetime | None = None
) -> list[MonthFigures]:
    """The fleet's totals of each of the last ``months`` calendar months, oldest first,
    the current month (so far) last.

    Months are calendar months of the fleet's time zone, America/Sao_Paulo. Each
    month's figures are the fleet report's ``totals`` for that month (its ``from`` and
    ``to``): the same definitions, vehicles retired before the month left out, and
    consecutive months' km add up. A month without activity is zeros.
    """
    calendar = calendar_months(months, now or datetime.now(UTC))
    bucket = _MonthBuckets([start for _, start, _ in calendar] + [calendar[-1][2]])
    figures = [
        MonthFigures(month=name, period_from=start, period_to=end) for name, start, end in calendar
    ]

    def of(month: int) -> MonthFigures:
        # Buckets are numbered from 1 (width_bucket's numbering).
        return figures[month - 1]

    for row in db_session.execute(_monthly_distance(bucket)):
        of(row.month).km_driven = int(row.km_driven)
    by_type: dict[int, dict[str, FuelTypeFigures]] = defaultdict(dict)
    for row in db_session.execute(_monthly_fuel(bucket)):
        if row.fuel_type is None:
            of(row.month).liters, of(row.month).fuel_cost = row.liters, row.fuel_cost
        else:
            by_type[row.month][row.fuel_type] = FuelTypeFigures(
                row.fuel_type, row.liters, row.fuel_cost, row.fills
            )
    # Only a vehicle that filled up to full in the span can close an interval in it.
    measured = list(
        db_session.scalars(
            sa.select(FuelLog.vehicle_id)
            .where(FuelLog.full_tank, *bucket.covers(FuelLog.filled_at))
            .distinct()
        )
    )
    if measured:
        for row in db_session.execute(_monthly_consumption(bucket, measured)):
            fuel = by_type[row.month].setdefault(row.fuel_type, FuelTypeFigures(row.fuel_type))
            fuel.measured_km, fuel.measured_liters = int(row.km), row.liters
            fuel.km_per_liter = row.km_per_liter
    for row in db_session.execute(_monthly_maintenance(bucket)):
        of(row.month).maintenance_cost = row.cost
    for month, fuels in by_type.items():
        of(month).fuel_types = [fuels[name] for name in sorted(fuels)]
    return figures


# A time column, mapped or not, that SQL can put in a month.
Moment = (
    sa.ColumnElement[datetime] | QueryableAttribute[datetime] | QueryableAttribute[datetime | None]
)


class _MonthBuckets:
    """SQL for the month of a time: 1 for the first month of the span, 2 for the next…"""

    def __init__(self, boundaries: list[datetime]) -> None:
        self.start, self.end = boundaries[0], boundaries[-1]
        self._boundaries = sa.literal(boundaries, postgresql.ARRAY(sa.DateTime(timezone=True)))

    def of(self, moment: Moment) -> sa.ColumnElement[int]:
        return sa.func.width_bucket(moment, self._boundaries, type_=sa.Integer)

    def covers(self, moment: Moment) -> tuple[sa.ColumnElement[bool], ...]:
        return (moment >= self.start, moment < self.end)

    def in_service(self, month: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        """Vehicles not retired before ``month`` (as the fleet report's scope says)."""
        return sa.or_(Vehicle.retired_at.is_(None), self.of(Vehicle.retired_at) >= month)


def _monthly_distance(bucket: _MonthBuckets) -> sa.Select[*tuple[Any, ...]]:
    reading = OdometerReading
    live = reading.voided_at.is_(None)
    # Each vehicle's highest and lowest reading of each month it has readings in: only
    # those months see it drive.
    per_month = (
        sa.select(
            reading.vehicle_id,
            bucket.of(reading.read_at).label("month"),
            sa.func.max(reading.km).label("last"),
            sa.func.min(reading.km).label("first"),
        )
        .where(live, *bucket.covers(reading.read_at))
        .group_by(reading.vehicle_id, sa.literal_column("month"))
        .cte("per_month")
    )
    # The odometer at the start of the span: the latest reading before it (the ledger
    # never decreases, so also the highest), looked up once per vehicle in the span.
    opening = (
        sa.select(reading.km)
        .where(reading.vehicle_id == per_month.c.vehicle_id, live, reading.read_at < bucket.start)
        .order_by(reading.read_at.desc(), reading.km.desc())
        .limit(1)
        .scalar_subquery()
    )
    openings = (
        sa.select(per_month.c.vehicle_id, opening.label("km"))
        .group_by(per_month.c.vehicle_id)
        .subquery("openings")
    )
    # The odometer at the start of a month: the highest reading of an earlier month of
    # the span, or else the opening one; none for a vehicle first read in this month.
    earlier = sa.func.max(per_month.c.last).over(
        partition_by=per_month.c.vehicle_id, order_by=per_month.c.month, rows=(None, -1)
    )
    chained = sa.select(*per_month.c, earlier.label("earlier")).subquery("chained")
    before = sa.func.greatest(chained.c.earlier, openings.c.km)
    driven = sa.func.greatest(chained.c.last, before) - sa.func.coalesce(before, chained.c.first)
    return (
        sa.select(chained.c.month, sa.func.sum(driven).label("km_driven"))
        .join(openings, openings.c.vehicle_id == chained.c.vehicle_id)
        .join(Vehicle, Vehicle.id == chained.c.vehicle_id)
        .where(bucket.in_service(chained.c.month))
        .group_by(chained.c.month)
    )


def _monthly_fuel(bucket: _MonthBuckets) -> sa.Select[*tuple[Any, ...]]:
    fills = (
        sa.select(
            bucket.of(FuelLog.filled_at).label("month"),
            FuelLog.fuel_type,
            FuelLog.liters,
            FuelLog.total_cost,
            FuelLog.vehicle_id,
        )
        .where(*bucket.covers(FuelLog.filled_at))
        .subquery("fills")
    )
    month, fuel_type = fills.c.month, fills.c.fuel_type
    return (
        sa.select(
            month,
            fuel_type,
            sa.func.sum(fills.c.liters).label("liters"),
            sa.func.sum(fills.c.total_cost).label("fuel_cost"),
            sa.func.count().label("fills"),
        )
        .join(Vehicle, Vehicle.id == fills.c.vehicle_id)
        .where(bucket.in_service(month))
        .group_by(sa.func.grouping_sets(sa.tuple_(month, fuel_type), month))
    )


def _monthly_consumption(
    bucket: _MonthBuckets, vehicle_ids: list[uuid.UUID]
) -> sa.Select[*tuple[Any, ...]]:
    intervals = consumption_intervals(vehicle_ids=vehicle_ids, until=bucket.end)
    closed = (
        sa.select(
            bucket.of(intervals.c.closed_at).label("month"),
            intervals.c.fuel_type,
            intervals.c.km,
            intervals.c.liters,
            intervals.c.vehicle_id,
        )
        .where(intervals.c.closed_at >= bucket.start)
        .subquery("closed")
    )
    # Unconstrained numeric, as in _consumption.
    km = sa.func.sum(closed.c.km, type_=sa.Numeric())
    liters = sa.func.sum(closed.c.liters, type_=sa.Numeric())
    return (
        sa.select(
            closed.c.month,
            closed.c.fuel_type,
            km.label("km"),
            liters.label("liters"),
            sa.func.round(km / liters, 2).label("km_per_liter"),
        )
        .join(Vehicle, Vehicle.id == closed.c.vehicle_id)
        .where(bucket.in_service(closed.c.month))
        .group_by(closed.c.month, closed.c.fuel_type)
    )


def _monthly_maintenance(bucket: _MonthBuckets) -> sa.Select[*tuple[Any, ...]]:
    records = (
        sa.select(
            bucket.of(MaintenanceRecord.performed_at).label("month"),
            MaintenanceRecord.cost,
            MaintenanceRecord.vehicle_id,
        )
        .where(*bucket.covers(MaintenanceRecord.performed_at))
        .subquery("records")
    )
    return (
        sa.select(records.c.month, sa.func.sum(records.c.cost).label("cost"))
        .join(Vehicle, Vehicle.id == records.c.vehicle_id)
        .where(bucket.in_service(records.c.month))
        .group_by(records.c.month)
    )
