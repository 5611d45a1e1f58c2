"""What keeps the reports fast on a big fleet without changing a figure: km/L walks
each vehicle's fills from its last full tank before the period only, the sections
select the vehicles in SQL, and the monthly report keeps closed months in
report_months, which every write that could change them empties (migration 0005)."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.fuel.consumption import consumption_intervals
from fleet_service.odometer.models import OdometerReading
from fleet_service.reports import service
from fleet_service.reports.service import MonthFigures
from fleet_service.vehicles.models import Vehicle
from tests.fleet.test_reports import REPORTS, counting_queries, period
from tests.support.factories import make_fuel_log, make_maintenance_record, make_vehicle

NOW = datetime.now(UTC).replace(microsecond=0)
# The period's start: a month ago, with history a year and more before it.
S = NOW - timedelta(days=30)
DAY = timedelta(days=1)
# Earlier than any fill: from here the walk covers every fill, as before the bound.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def around_the_start(db_session: Session) -> list[Vehicle]:
    """Vehicles whose full-tank intervals cross the period's start every which way."""
    # Its last full tank before the period is 300 days before it, then two partial
    # fills, one long before the period: 800 km on 45 L closed in the period; then an
    # interval with a missed fill (left out), then 300 km on 20 L.
    a = make_vehicle(db_session)
    for km, liters, days, full, missed in [
        (10_000, "40", -400, True, False),
        (10_500, "40", -300, True, False),
        (10_800, "10", -200, False, False),
        (11_000, "15", -5, False, False),
        (11_300, "20", 2, True, False),
        (11_500, "10", 5, False, True),
        (11_800, "25", 8, True, False),
        (12_100, "20", 10, True, False),
    ]:
        make_fuel_log(
            db_session,
            vehicle=a,
            km=km,
            liters=liters,
            full_tank=full,
            missed_previous=missed,
            filled_at=S + days * DAY,
        )
    # A missed fill just before the start, in the interval that a full tank at the
    # period's very first instant closes (left out); then 300 km on 30 L.
    b = make_vehicle(db_session)
    make_fuel_log(db_session, vehicle=b, km=5_000, liters="40", filled_at=S - 60 * DAY)
    make_fuel_log(
        db_session,
        vehicle=b,
        km=5_200,
        liters="10",
        full_tank=False,
        missed_previous=True,
        filled_at=S - 10 * DAY,
    )
    make_fuel_log(db_session, vehicle=b, km=5_400, liters="20", filled_at=S)
    make_fuel_log(db_session, vehicle=b, km=5_700, liters="30", filled_at=S + 3 * DAY)
    # A flex vehicle: ethanol put in on top of gasoline just before the start (the
    # interval closing in the period is a mix, left out), then 300 km on 30 L of ethanol.
    c = make_vehicle(db_session)
    for km, liters, days, full, fuel in [
        (20_000, "40", -90, True, "gasoline"),
        (20_300, "20", -3, False, "ethanol"),
        (20_600, "25", 4, True, "ethanol"),
        (20_900, "30", 9, True, "ethanol"),
    ]:
        make_fuel_log(
            db_session,
            vehicle=c,
            km=km,
            liters=liters,
            full_tank=full,
            fuel_type=fuel,
            filled_at=S + days * DAY,
        )
    # No full tank before the period: its first one in it opens the first interval.
    d = make_vehicle(db_session)
    make_fuel_log(
        db_session, vehicle=d, km=100, liters="10", full_tank=False, filled_at=S - 100 * DAY
    )
    make_fuel_log(db_session, vehicle=d, km=400, liters="30", filled_at=S + DAY)
    make_fuel_log(db_session, vehicle=d, km=700, liters="25", filled_at=S + 6 * DAY)
    # Two full tanks at one instant before the period (the walk starts at that instant).
    e = make_vehicle(db_session)
    make_fuel_log(db_session, vehicle=e, km=30_000, liters="40", filled_at=S - 20 * DAY)
    make_fuel_log(db_session, vehicle=e, km=30_000, liters="5", filled_at=S - 20 * DAY)
    make_fuel_log(db_session, vehicle=e, km=30_400, liters="40", filled_at=S + 2 * DAY)
    return [a, b, c, d, e]


def intervals(
    db_session: Session, vehicles: list[Vehicle], since: datetime, until: datetime
) -> list[Any]:
    chosen = sa.select(Vehicle.id).where(Vehicle.id.in_([v.id for v in vehicles]))
    found = consumption_intervals(vehicles=chosen, since=since, until=until)
    return sorted(tuple(row) for row in db_session.execute(sa.select(found)))


def test_km_per_litre_walks_from_the_last_full_tank_and_agrees_with_the_whole_history(
    db_session,
):
    vehicles = around_the_start(db_session)
    everything = intervals(db_session, vehicles, BEGINNING, NOW)
    # A period starting at, or just after, each fill of the history.
    fills = db_session.scalars(sa.text("SELECT DISTINCT filled_at FROM fleet.fuel_logs")).all()
    for start in itertools.chain.from_iterable((t, t + timedelta(microseconds=1)) for t in fills):
        bounded = intervals(db_session, vehicles, start, NOW)
        assert bounded == [row for row in everything if row[2] >= start], start


def test_a_report_counts_only_the_intervals_closed_in_its_period(db_session):
    a, b, c, d, e = around_the_start(db_session)
    report = service.fleet_report(db_session=db_session, period_from=S, period_to=NOW)
    fuels = {
        (figures.vehicle_id, fuel.fuel_type): (fuel.measured_km, fuel.measured_liters)
        for figures in report.vehicles
        for fuel in figures.fuel_types
        if fuel.km_per_liter is not None
    }
    assert fuels == {
        (a.id, "gasoline"): (1100, Decimal(65)),
        (b.id, "gasoline"): (300, Decimal(30)),
        (c.id, "ethanol"): (300, Decimal(30)),
        (d.id, "gasoline"): (300, Decimal(25)),
        (e.id, "gasoline"): (400, Decimal(40)),
    }
    gasoline = {f.fuel_type: f for f in report.totals.fuel_types}["gasoline"]
    # 2100 km on 160 L: 13.125, rounded half up.
    assert (gasoline.measured_km, gasoline.km_per_liter) == (2100, Decimal("13.13"))


def test_the_sections_select_the_vehicles_in_sql_not_as_a_list_of_ids(
    fleet_api, engine, db_session, manager
):
    for _ in range(30):
        make_fuel_log(
            db_session, vehicle=make_vehicle(db_session), km=1_000, liters="40", filled_at=S + DAY
        )
    with counting_queries(engine) as statements:
        response = fleet_api.get(f"{REPORTS}/fleet", user=manager, query_string=period(S, NOW))
    assert response.status_code == 200
    assert len(response.json["vehicles"]) == 30
    assert len(statements) == 4
    # A few parameters each (the period's bounds), none per vehicle.
    assert all(statement.count("%(") < 12 for statement in statements), statements


def months_of(calendar_index: int) -> tuple[datetime, datetime]:
    _, start, end = service.calendar_months(3, datetime.now(UTC))[calendar_index]
    return start, end


def cached(connection: sa.Connection) -> dict[datetime, dict[str, Any]]:
    rows = connection.execute(sa.text("SELECT month_start, figures FROM fleet.report_months"))
    return {row.month_start: row.figures for row in rows}


def totals_of(month: MonthFigures) -> dict[str, Any]:
    return {
        k: v for k, v in asdict(month).items() if k not in ("month", "period_from", "period_to")
    }


def live(db_session: Session, month: MonthFigures) -> dict[str, Any]:
    report = service.fleet_report(
        db_session=db_session, period_from=month.period_from, period_to=month.period_to
    )
    return asdict(report.totals)


@pytest.fixture
def three_months(db_session: Session) -> Vehicle:
    """A vehicle with full tanks and maintenance in the two months before this one."""
    (m0, _), (m1, _), (m2, _) = months_of(0), months_of(1), months_of(2)
    vehicle = make_vehicle(db_session)
    make_fuel_log(db_session, vehicle=vehicle, km=1_000, liters="40", filled_at=m0 + DAY)
    make_fuel_log(db_session, vehicle=vehicle, km=1_400, liters="20", filled_at=m0 + 5 * DAY)
    make_fuel_log(db_session, vehicle=vehicle, km=2_000, liters="30", filled_at=m1 + 5 * DAY)
    make_maintenance_record(
        db_session, vehicle=vehicle, km=2_100, performed_at=m1 + 6 * DAY, cost="80.00"
    )
    make_fuel_log(db_session, vehicle=vehicle, km=2_200, liters="10", filled_at=m1 + 10 * DAY)
    make_fuel_log(db_session, vehicle=vehicle, km=2_500, liters="20", filled_at=m2)
    return vehicle


def test_closed_months_are_served_from_the_cache_and_the_current_month_never_is(
    engine, connection, db_session, three_months
):
    first = service.monthly_report(db_session=db_session, months=3)
    (m0, _), (m1, _) = months_of(0), months_of(1)
    assert set(cached(connection)) == {m0, m1}
    assert [m.km_driven for m in first] == [400, 800, 300]
    for month in first:
        assert totals_of(month) == live(db_session, month), month.month
    # Changed behind the triggers' back (the cache has none): what the report says now
    # can only come from the cache.
    connection.execute(
        sa.text(
            "UPDATE fleet.report_months SET figures = jsonb_set(figures, '{distance}',"
            " '[{\"km_driven\": 424242}]') WHERE month_start = :start"
        ),
        {"start": m0},
    )
    with counting_queries(engine) as statements:
        again = service.monthly_report(db_session=db_session, months=3)
    assert [m.km_driven for m in again] == [424242, 800, 300]
    assert [totals_of(m) for m in again[1:]] == [totals_of(m) for m in first[1:]]
    # The cache, then the four sections over the current month alone, storing nothing.
    assert len(statements) == 5
    assert not any("INSERT" in statement for statement in statements)
    assert set(cached(connection)) == {m0, m1}


def test_a_back_dated_fill_changes_its_month_and_every_later_one_on_the_next_call(
    connection, db_session, three_months
):
    service.monthly_report(db_session=db_session, months=3)
    (m0, _), (m1, _) = months_of(0), months_of(1)
    # A partial fill in the middle of the second month, between two of its readings.
    make_fuel_log(
        db_session,
        vehicle=three_months,
        km=2_150,
        liters="7.5",
        full_tank=False,
        filled_at=m1 + 8 * DAY,
    )
    assert set(cached(connection)) == {m0}
    months = service.monthly_report(db_session=db_session, months=3)
    assert months[1].liters == Decimal("47.500")
    [gasoline] = months[1].fuel_types
    assert (gasoline.measured_km, gasoline.measured_liters) == (800, Decimal("47.5"))
    for month in months:
        assert totals_of(month) == live(db_session, month), month.month
    assert set(cached(connection)) == {m0, m1}
    # One in the first month empties the first month too.
    make_fuel_log(
        db_session,
        vehicle=three_months,
        km=1_200,
        liters="5",
        full_tank=False,
        filled_at=m0 + 3 * DAY,
    )
    assert cached(connection) == {}
    months = service.monthly_report(db_session=db_session, months=3)
    assert months[0].liters == Decimal("65.000")
    for month in months:
        assert totals_of(month) == live(db_session, month), month.month


def void_a_reading(db_session: Session, vehicle: Vehicle, start: datetime) -> None:
    reading = db_session.scalars(
        sa.select(OdometerReading).where(
            OdometerReading.vehicle_id == vehicle.id, OdometerReading.km == 2_200
        )
    ).one()
    reading.voided_at, reading.void_reason = datetime.now(UTC), "typo"
    reading.voided_by_user_id = reading.author_user_id
    db_session.flush()


def record_maintenance(db_session: Session, vehicle: Vehicle, start: datetime) -> None:
    make_maintenance_record(
        db_session, vehicle=vehicle, km=2_300, performed_at=start + 15 * DAY, cost="10.00"
    )


def retire(db_session: Session, vehicle: Vehicle, start: datetime) -> None:
    # A new vehicle (so the other one's history stays in every month), retired as if
    # during the second month.
    other = make_vehicle(db_session)
    other.retired_at = start + 3 * DAY
    db_session.flush()


@pytest.mark.parametrize("change", [void_a_reading, record_maintenance, retire])
def test_a_void_a_back_dated_record_or_a_retirement_empties_the_months_from_it_on(
    connection, db_session, three_months, change
):
    service.monthly_report(db_session=db_session, months=3)
    (m0, _), (m1, _) = months_of(0), months_of(1)
    change(db_session, three_months, m1)
    assert set(cached(connection)) == {m0}
    for month in service.monthly_report(db_session=db_session, months=3):
        assert totals_of(month) == live(db_session, month), month.month


def test_a_report_stores_no_month_while_a_write_is_in_flight(engine):
    # Real transactions of their own (the test's one would hold both locks itself).
    with engine.connect() as writer, engine.connect() as report:
        writer.execute(sa.select(sa.func.fleet.report_months_stale_from(sa.func.now())))
        assert report.scalar(sa.select(sa.func.fleet.report_months_may_fill())) is False
        report.rollback()
        writer.rollback()
        assert report.scalar(sa.select(sa.func.fleet.report_months_may_fill())) is True
        report.rollback()
