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

The sections select the vehicles in SQL (a subquery of the vehicles in scope), never
as a list of ids: a fleet has thousands.

The monthly report gives the fleet's totals of each calendar month, by the same
definitions, for several months at once: each section is still one query, over the
whole span, bucketed by month (no per-vehicle rows come back). A closed month's
figures only change with its history, so they are kept in report_months, filled on
first use and emptied by triggers whenever that history changes (migration 0005); a
report reads the cache first, then computes the months from the first one missing,
the current one always, in the same four queries.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
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
    # Core, on the session's connection: the sections select columns, not entities, and
    # the ORM's result handling would only slow thousands of rows down.
    db = db_session.connection()
    figures: dict[uuid.UUID | None, Figures] = {}
    for row in db.execute(_distance(scope, start, end)):
        figures[row.vehicle_id] = Figures(row.vehicle_id, row.plate, int(row.km_driven))

    # The other sections select the vehicles with ``scope`` again (SQL, not a list of
    # thousands of ids): one registered since the first section was read has no row
    # in it, and no history yet either, so its rows (if any) are left out.
    def known(rows: sa.Result[Any]) -> Iterator[sa.Row[Any]]:
        return (row for row in rows if row.vehicle_id in figures)

    by_type: dict[uuid.UUID | None, dict[str, FuelTypeFigures]] = defaultdict(dict)
    for row in known(db.execute(_fuel(scope, start, end))):
        if row.fuel_type is None:
            owner = figures[row.vehicle_id]
            owner.liters, owner.fuel_cost = row.liters, row.fuel_cost
        else:
            by_type[row.vehicle_id][row.fuel_type] = FuelTypeFigures(
                row.fuel_type, row.liters, row.fuel_cost, row.fills
            )
    for row in known(db.execute(_consumption(scope, start, end))):
        fuel = by_type[row.vehicle_id].setdefault(row.fuel_type, FuelTypeFigures(row.fuel_type))
        fuel.measured_km, fuel.measured_liters = int(row.km), row.liters
        fuel.km_per_liter = row.km_per_liter
    for row in known(db.execute(_maintenance(scope, start, end))):
        figures[row.vehicle_id].maintenance_cost = row.cost
    for key, fuels in by_type.items():
        figures[key].fuel_types = [fuels[name] for name in sorted(fuels)]
    return figures


def _distance(scope: sa.Select[Any], start: datetime, end: datetime) -> sa.Select[*tuple[Any, ...]]:
    reading = OdometerReading
    live = reading.voided_at.is_(None)
    in_period = (
        sa.select(
            reading.vehicle_id,
            sa.func.min(reading.km).label("first"),
            sa.func.max(reading.km).label("last"),
        )
        .where(reading.vehicle_id.in_(scope), live, reading.read_at >= start, reading.read_at < end)
        .group_by(reading.vehicle_id)
        .subquery("in_period")
    )
    # The odometer at the start: the latest reading before it (the ledger never
    # decreases, so also the highest), looked up along each vehicle's index rather
    # than over its whole history — and only for the vehicles read in the period:
    # the others drove nothing in it.
    before = (
        sa.select(reading.km)
        .where(reading.vehicle_id == in_period.c.vehicle_id, live, reading.read_at < start)
        .order_by(reading.read_at.desc(), reading.km.desc())
        .limit(1)
        .scalar_subquery()
    )
    # The ledger never decreases, so the highest reading of the period is the odometer
    # at its end.
    driven = sa.select(
        in_period.c.vehicle_id,
        (in_period.c.last - sa.func.coalesce(before, in_period.c.first)).label("km"),
    ).subquery("driven")
    return (
        sa.select(
            Vehicle.id.label("vehicle_id"),
            Vehicle.plate,
            sa.func.coalesce(sa.func.sum(driven.c.km), 0).label("km_driven"),
        )
        .outerjoin(driven, driven.c.vehicle_id == Vehicle.id)
        .where(Vehicle.id.in_(scope))
        .group_by(sa.func.rollup(sa.tuple_(Vehicle.id, Vehicle.plate)))
    )


def _fuel(scope: sa.Select[Any], start: datetime, end: datetime) -> sa.Select[*tuple[Any, ...]]:
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
        .where(vehicle.in_(scope), FuelLog.filled_at >= start, FuelLog.filled_at < end)
        .group_by(
            sa.func.grouping_sets(sa.tuple_(vehicle, fuel_type), vehicle, fuel_type, sa.text("()"))
        )
    )


def _consumption(
    scope: sa.Select[Any], start: datetime, end: datetime
) -> sa.Select[*tuple[Any, ...]]:
    intervals = consumption_intervals(vehicles=scope, since=start, until=end)
    # Unconstrained numeric: typed as the column, a sum of litres would be cast back into
    # its numeric(7, 3) for the division and overflow.
    km = sa.func.sum(intervals.c.km, type_=sa.Numeric())
    liters = sa.func.sum(intervals.c.liters, type_=sa.Numeric())
    return sa.select(
        intervals.c.vehicle_id,
        intervals.c.fuel_type,
        km.label("km"),
        liters.label("liters"),
        sa.func.round(km / liters, 2).label("km_per_liter"),
    ).group_by(
        sa.func.grouping_sets(
            sa.tuple_(intervals.c.vehicle_id, intervals.c.fuel_type), intervals.c.fuel_type
        )
    )


def _maintenance(
    scope: sa.Select[Any], start: datetime, end: datetime
) -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(
            MaintenanceRecord.vehicle_id,
            sa.func.coalesce(sa.func.sum(MaintenanceRecord.cost), 0).label("cost"),
        )
        .where(
            MaintenanceRecord.vehicle_id.in_(scope),
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

    Closed months come from the cache (report_months) when it has them; the others,
    the current one always, are computed, and closed ones stored (committed).
    """
    calendar = calendar_months(months, now or datetime.now(UTC))
    figures = [
        MonthFigures(month=name, period_from=start, period_to=end) for name, start, end in calendar
    ]
    # Every month but the current one is closed.
    cached, may_store = _read_cache(db_session, [start for _, start, _ in calendar[:-1]])
    # From the first month missing in the cache on, every month is computed (a span
    # of months is one range of rows to read; the current month is never cached).
    first = next(n for n, month in enumerate(figures) if month.period_from not in cached)
    for month in figures[:first]:
        _fill(month, cached[month.period_from])
    computed = figures[first:]
    bucket = _MonthBuckets([month.period_from for month in computed] + [computed[-1].period_to])
    # The closed months to store, by bucket number (from 1, width_bucket's numbering).
    store = [(n, month.period_from, month.period_to) for n, month in enumerate(computed[:-1], 1)]
    if not may_store:
        store = []
    sections: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: {name: [] for name in SECTIONS}
    )
    for name, section in (
        ("distance", _monthly_distance(bucket)),
        ("fuel", _monthly_fuel(bucket)),
        ("consumption", _monthly_consumption(bucket)),
        ("maintenance", _monthly_maintenance(bucket)),
    ):
        for row in db_session.connection().execute(_storing(name, section, store)):
            sections[row.month][name].append(row._asdict())
    for n, month in enumerate(computed, 1):
        _fill(month, sections[n])
    if store:
        # Ends the transaction, and with it the lock that let these months be stored.
        db_session.commit()
    return figures


SECTIONS = ("distance", "fuel", "consumption", "maintenance")

# The cache of closed months' figures: created with its triggers by migration 0005,
# which explains how they keep it true; used in SQL only, here.
REPORT_MONTHS = sa.table(
    "report_months",
    sa.column("month_start", sa.DateTime(timezone=True)),
    sa.column("month_end", sa.DateTime(timezone=True)),
    sa.column("figures", postgresql.JSONB()),
    sa.column("computed_at", sa.DateTime(timezone=True)),
    schema="fleet",
)


def _read_cache(
    db_session: Session, starts: list[datetime]
) -> tuple[dict[datetime, dict[str, list[dict[str, Any]]]], bool]:
    """The cached months among those starting at ``starts`` (each section's rows, by
    section), and whether this transaction may store the missing ones."""
    cached = (
        sa.select(
            REPORT_MONTHS.c.month_start,
            # As text: parsed here with exact decimals (a JSON number would be a float).
            sa.cast(REPORT_MONTHS.c.figures, sa.Text).label("figures"),
        )
        .where(
            REPORT_MONTHS.c.month_start.in_(starts),
            REPORT_MONTHS.c.figures.has_all(postgresql.array(SECTIONS)),
        )
        .cte("cached")
    )
    missing = sa.select(sa.func.count()).select_from(cached).scalar_subquery() < len(starts)
    # With a month missing, one more row (no month) if this transaction takes the lock
    # that lets it store months (see migration 0005); in the same statement, so that
    # a report answered from the cache alone takes no lock and adds no query. CASE:
    # the lock is only tried when a month is missing.
    may_fill = sa.case((missing, sa.func.fleet.report_months_may_fill()), else_=False)
    lock = sa.select(
        sa.cast(sa.null(), sa.DateTime(timezone=True)), sa.cast(sa.null(), sa.Text)
    ).where(may_fill)
    figures: dict[datetime, dict[str, list[dict[str, Any]]]] = {}
    may_store = False
    for row in db_session.execute(sa.union_all(sa.select(*cached.c), lock)):
        if row.month_start is None:
            may_store = True
        else:
            figures[row.month_start] = json.loads(row.figures, parse_float=Decimal)
    return figures, may_store


def _storing(
    name: str, section: sa.Select[Any], store: list[tuple[int, datetime, datetime]]
) -> sa.Select[Any]:
    """``section``'s rows, and on the way its rows of the months ``store`` (bucket
    number, start, end) merged into their cache rows, under ``name``."""
    if not store:
        return section
    rows = section.cte(f"{name}_rows")
    months = sa.values(
        sa.column("month", sa.Integer),
        sa.column("month_start", sa.DateTime(timezone=True)),
        sa.column("month_end", sa.DateTime(timezone=True)),
        name="stored_months",
    ).data(store)
    # Each row as the JSON object of its columns but the bucket number (which is this
    # report's, not the month's); a month without rows gets an empty list.
    row = sa.func.to_jsonb(rows.table_valued()).op("-")("month")
    entries = sa.func.jsonb_agg(row).filter(rows.c.month.is_not(None))
    entry = sa.func.jsonb_build_object(name, sa.func.coalesce(entries, sa.text("'[]'::jsonb")))
    per_month = (
        sa.select(months.c.month_start, months.c.month_end, entry)
        .select_from(months.outerjoin(rows, rows.c.month == months.c.month))
        .group_by(months.c.month_start, months.c.month_end)
    )
    insert = postgresql.insert(REPORT_MONTHS).from_select(
        ["month_start", "month_end", "figures"], per_month
    )
    # Each section adds its entry to the month's row (the first one creates it).
    insert = insert.on_conflict_do_update(
        index_elements=[REPORT_MONTHS.c.month_start],
        set_={
            "figures": REPORT_MONTHS.c.figures.op("||")(insert.excluded.figures),
            "computed_at": sa.func.clock_timestamp(),
        },
    )
    # A data-modifying CTE runs whether or not the query refers to it.
    return sa.select(*rows.c).add_cte(insert.cte(f"{name}_stored"))


def _fill(month: MonthFigures, sections: dict[str, list[dict[str, Any]]]) -> None:
    """Put each section's rows of ``month`` (computed or cached) in its figures."""
    for row in sections["distance"]:
        month.km_driven = int(row["km_driven"])
    by_type: dict[str, FuelTypeFigures] = {}
    for row in sections["fuel"]:
        if row["fuel_type"] is None:
            month.liters, month.fuel_cost = row["liters"], row["fuel_cost"]
        else:
            by_type[row["fuel_type"]] = FuelTypeFigures(
                row["fuel_type"], row["liters"], row["fuel_cost"], row["fills"]
            )
    for row in sections["consumption"]:
        fuel = by_type.setdefault(row["fuel_type"], FuelTypeFigures(row["fuel_type"]))
        fuel.measured_km, fuel.measured_liters = int(row["km"]), row["liters"]
        fuel.km_per_liter = row["km_per_liter"]
    for row in sections["maintenance"]:
        month.maintenance_cost = row["cost"]
    month.fuel_types = [by_type[name] for name in sorted(by_type)]


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


def _monthly_consumption(bucket: _MonthBuckets) -> sa.Select[*tuple[Any, ...]]:
    # Only a vehicle that filled up to full in the span can close an interval in it.
    measured = (
        sa.select(FuelLog.vehicle_id)
        .where(FuelLog.full_tank, *bucket.covers(FuelLog.filled_at))
        .distinct()
    )
    intervals = consumption_intervals(vehicles=measured, since=bucket.start, until=bucket.end)
    closed = sa.select(
        bucket.of(intervals.c.closed_at).label("month"),
        intervals.c.fuel_type,
        intervals.c.km,
        intervals.c.liters,
        intervals.c.vehicle_id,
    ).subquery("closed")
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
