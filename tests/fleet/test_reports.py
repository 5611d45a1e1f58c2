from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.support.factories import (
    make_fuel_log,
    make_maintenance_record,
    make_user,
    make_vehicle,
)

REPORTS = "/api/v1/fleet/reports"
START = datetime(2020, 1, 1, tzinfo=UTC)


def rfc3339(moment):
    return moment.isoformat().replace("+00:00", "Z")


def period(start, end):
    return {"from": rfc3339(start), "to": rfc3339(end)}


@contextmanager
def counting_queries(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements sent to the database meanwhile (savepoints aside)."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def parse_csv(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_vehicle_report_adds_up_distance_fuel_and_maintenance(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    # Before the period: the odometer at its start is the last reading before it.
    make_fuel_log(
        db_session, vehicle=vehicle, km=9_800, liters="30", filled_at=START - timedelta(days=2)
    )
    make_fuel_log(
        db_session, vehicle=vehicle, km=10_000, liters="10", filled_at=START - timedelta(days=1)
    )
    make_fuel_log(
        db_session,
        vehicle=vehicle,
        km=10_300,
        liters="20",
        filled_at=START + timedelta(days=1),
        full_tank=False,
        total_cost="100.10",
    )
    make_fuel_log(
        db_session,
        vehicle=vehicle,
        km=10_600,
        liters="20",
        filled_at=START + timedelta(days=2),
        fuel_type="ethanol",
        total_cost="80.00",
    )
    make_maintenance_record(
        db_session,
        vehicle=vehicle,
        km=10_700,
        performed_at=START + timedelta(days=3),
        cost="319.90",
    )
    # After the period: not counted.
    make_fuel_log(
        db_session, vehicle=vehicle, km=11_000, liters="30", filled_at=START + timedelta(days=40)
    )

    response = fleet_api.get(
        f"{REPORTS}/vehicles/{vehicle.id}",
        user=manager,
        query_string=period(START, START + timedelta(days=30)),
    )
    assert response.status_code == 200, response.json
    assert response.json["from"] == "2020-01-01T00:00:00Z"
    figures = response.json["vehicle"]
    assert figures == {
        "vehicle_id": str(vehicle.id),
        "plate": vehicle.plate,
        "km_driven": 700,
        "liters": "40.000",
        "fuel_cost": "180.10",
        "maintenance_cost": "319.90",
        "total_cost": "500.00",
        "cost_per_km": "0.714",
        "fuel_types": [
            {
                "fuel_type": "ethanol",
                "liters": "20.000",
                "fuel_cost": "80.00",
                "fills": 1,
                # Gasoline at 10 000 km, then ethanol: a mixed tank, not measured.
                "measured_km": 0,
                "measured_liters": "0.000",
                "km_per_liter": None,
            },
            {
                "fuel_type": "gasoline",
                "liters": "20.000",
                "fuel_cost": "100.10",
                "fills": 1,
                "measured_km": 0,
                "measured_liters": "0.000",
                "km_per_liter": None,
            },
        ],
    }

    exported = parse_csv(
        fleet_api.get(
            f"{REPORTS}/vehicles/{vehicle.id}",
            user=manager,
            query_string={**period(START, START + timedelta(days=30)), "format": "csv"},
        )
    )
    assert exported == [
        {
            "vehicle_id": str(vehicle.id),
            "plate": vehicle.plate,
            "km_driven": "700",
            "liters": "40.000",
            "fuel_cost": "180.10",
            "maintenance_cost": "319.90",
            "total_cost": "500.00",
            "cost_per_km": "0.714",
            "gasoline_liters": "20.000",
            "gasoline_fuel_cost": "100.10",
            "gasoline_km_per_liter": "",
            "ethanol_liters": "20.000",
            "ethanol_fuel_cost": "80.00",
            "ethanol_km_per_liter": "",
            **{
                f"{fuel}_{column}": ""
                for fuel in ("diesel", "cng", "electric")
                for column in ("liters", "fuel_cost", "km_per_liter")
            },
        }
    ]


def test_a_vehicle_without_activity_has_a_report_of_zeros(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    response = fleet_api.get(
        f"{REPORTS}/vehicles/{vehicle.id}",
        user=manager,
        query_string=period(START, START + timedelta(1)),
    )
    figures = response.json["vehicle"]
    assert (figures["km_driven"], figures["liters"], figures["cost_per_km"]) == (0, "0.000", None)
    assert figures["fuel_types"] == []


def test_reports_check_their_period_and_caller(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    path = f"{REPORTS}/vehicles/{vehicle.id}"
    backwards = fleet_api.get(path, user=manager, query_string=period(START, START))
    assert backwards.status_code == 422
    assert "to" in backwards.json["error"]["details"]
    # Without `to` the period ends now.
    open_ended = fleet_api.get(path, user=manager, query_string={"from": rfc3339(START)})
    assert open_ended.status_code == 200, open_ended.json
    assert open_ended.json["from"] == rfc3339(START)
    assert parse_time(open_ended.json["to"]) > datetime.now(UTC) - timedelta(minutes=1)
    unknown = fleet_api.get(
        f"{REPORTS}/vehicles/{uuid.uuid4()}",
        user=manager,
        query_string=period(START, START + timedelta(1)),
    )
    assert unknown.status_code == 404
    driver = make_user(db_session, role="driver")
    query = period(START, START + timedelta(1))
    assert fleet_api.get(f"{REPORTS}/fleet", user=driver, query_string=query).status_code == 403


def test_without_a_period_a_report_covers_the_last_30_days_ending_now(
    fleet_api, db_session, manager
):
    vehicle = make_vehicle(db_session)
    before = datetime.now(UTC)
    for path in (f"{REPORTS}/vehicles/{vehicle.id}", f"{REPORTS}/fleet"):
        response = fleet_api.get(path, user=manager)
        assert response.status_code == 200, response.json
        period_from, period_to = parse_time(response.json["from"]), parse_time(response.json["to"])
        assert before - timedelta(seconds=1) <= period_to <= datetime.now(UTC)
        assert period_to - period_from == timedelta(days=30)
    ends = fleet_api.get(f"{REPORTS}/fleet", user=manager, query_string={"to": rfc3339(START)}).json
    assert parse_time(ends["from"]) == START - timedelta(days=30)


def test_the_fleet_report_leaves_out_vehicles_retired_before_the_period(
    fleet_api, db_session, manager
):
    kept = make_vehicle(db_session)
    retired = make_vehicle(db_session)
    fleet_api.delete(f"/api/v1/fleet/vehicles/{retired.id}", user=manager)
    now = datetime.now(UTC)
    before = fleet_api.get(
        f"{REPORTS}/fleet",
        user=manager,
        query_string=period(now - timedelta(1), now + timedelta(1)),
    )
    assert {v["vehicle_id"] for v in before.json["vehicles"]} == {str(kept.id), str(retired.id)}
    after = fleet_api.get(
        f"{REPORTS}/fleet",
        user=manager,
        query_string=period(now + timedelta(1), now + timedelta(2)),
    )
    assert {v["vehicle_id"] for v in after.json["vehicles"]} == {str(kept.id)}


VEHICLES = 50
FILLS_PER_VEHICLE = 2_000
KM_PER_FILL = 500

# Every vehicle fills up every hour, 500 km further each time: a full tank of 40 L,
# then a partial fill of 10 L, and so on. Even vehicles burn gasoline at 5.00 a litre,
# odd ones ethanol at 4.00: each full-tank interval is 1000 km on 50 L, 20 km/L.
BULK_FILLS = sa.text(
    """
    WITH fills AS (
        SELECT v.id AS vehicle_id,
               v.position % 2 = 1 AS on_ethanol,
               n % 2 = 0 AS full_tank,
               :start + n * interval '1 hour' AS filled_at,
               10000 + :km_per_fill * n AS km
        FROM unnest(CAST(:vehicle_ids AS uuid[])) WITH ORDINALITY AS v(id, position),
             generate_series(0, :fills - 1) AS n
    ), readings AS (
        INSERT INTO fleet.odometer_readings (id, vehicle_id, km, read_at, source, author_user_id)
        SELECT gen_random_uuid(), vehicle_id, km, filled_at, 'fuel', CAST(:author AS uuid)
        FROM fills
        RETURNING id, vehicle_id, km, read_at
    )
    INSERT INTO fleet.fuel_logs (
        id, vehicle_id, filled_at, odometer_km, odometer_reading_id, fuel_type, liters,
        total_cost, full_tank, missed_previous, author_user_id
    )
    SELECT gen_random_uuid(), r.vehicle_id, r.read_at, r.km, r.id,
           CASE WHEN f.on_ethanol THEN 'ethanol' ELSE 'gasoline' END,
           CASE WHEN f.full_tank THEN 40 ELSE 10 END,
           CASE WHEN f.full_tank THEN 40 ELSE 10 END * CASE WHEN f.on_ethanol THEN 4 ELSE 5 END,
           f.full_tank, false, CAST(:author AS uuid)
    FROM readings r JOIN fills f ON f.vehicle_id = r.vehicle_id AND f.filled_at = r.read_at
    """
)


@pytest.fixture
def hundred_thousand_fills(db_session, connection):
    vehicles = [make_vehicle(db_session) for _ in range(VEHICLES)]
    connection.execute(
        BULK_FILLS,
        {
            "vehicle_ids": [str(v.id) for v in vehicles],
            "fills": FILLS_PER_VEHICLE,
            "km_per_fill": KM_PER_FILL,
            "start": START,
            "author": str(uuid.uuid4()),
        },
    )
    # Within the first hour, between the first two fills.
    make_maintenance_record(
        db_session,
        vehicle=vehicles[0],
        km=10_250,
        performed_at=START + timedelta(minutes=30),
        cost="1000.00",
    )
    assert connection.scalar(sa.text("SELECT count(*) FROM fleet.fuel_logs")) == 100_000
    return vehicles


def test_a_report_over_100_000_fills_takes_one_query_per_section_and_its_csv_agrees(
    fleet_api, engine, manager, hundred_thousand_fills
):
    query = period(START - timedelta(days=1), START + timedelta(days=365))
    with counting_queries(engine) as statements:
        response = fleet_api.get(f"{REPORTS}/fleet", user=manager, query_string=query)
    assert response.status_code == 200, response.json
    # Distance, fuel, consumption, maintenance.
    assert len(statements) == 4, statements

    report = response.json
    per_vehicle_km = KM_PER_FILL * (FILLS_PER_VEHICLE - 1)
    half = FILLS_PER_VEHICLE // 2
    gasoline_cost = Decimal(half * 40 * 5 + half * 10 * 5)
    ethanol_cost = Decimal(half * 40 * 4 + half * 10 * 4)
    # BULK_FILLS numbers the vehicles from 1: the first, third, ... burn ethanol.
    expected = {
        str(vehicle.id): ("ethanol", ethanol_cost) if n % 2 == 0 else ("gasoline", gasoline_cost)
        for n, vehicle in enumerate(hundred_thousand_fills)
    }
    assert sorted(v["vehicle_id"] for v in report["vehicles"]) == sorted(expected)
    for figures in report["vehicles"]:
        fuel_type, fuel_cost = expected[figures["vehicle_id"]]
        assert figures["km_driven"] == per_vehicle_km
        assert Decimal(figures["liters"]) == half * 50
        assert Decimal(figures["fuel_cost"]) == fuel_cost
        [fuel] = figures["fuel_types"]
        assert (
            fuel["fuel_type"],
            fuel["fills"],
            Decimal(fuel["liters"]),
            Decimal(fuel["fuel_cost"]),
        ) == (fuel_type, FILLS_PER_VEHICLE, half * 50, fuel_cost)
        assert Decimal(fuel["km_per_liter"]) == 20
        assert fuel["measured_km"] == 1000 * (half - 1)
        maintenance = 1000 if figures["vehicle_id"] == str(hundred_thousand_fills[0].id) else 0
        assert Decimal(figures["maintenance_cost"]) == maintenance
    totals = report["totals"]
    assert totals["km_driven"] == VEHICLES * per_vehicle_km
    assert Decimal(totals["liters"]) == VEHICLES * half * 50
    assert Decimal(totals["fuel_cost"]) == VEHICLES // 2 * (gasoline_cost + ethanol_cost)
    assert Decimal(totals["maintenance_cost"]) == 1000
    expected_per_km = (Decimal(totals["total_cost"]) / totals["km_driven"]).quantize(
        Decimal("0.001")
    )
    assert Decimal(totals["cost_per_km"]) == expected_per_km
    assert {f["fuel_type"]: Decimal(f["km_per_liter"]) for f in totals["fuel_types"]} == {
        "ethanol": 20,
        "gasoline": 20,
    }

    with counting_queries(engine) as statements:
        rows = parse_csv(
            fleet_api.get(f"{REPORTS}/fleet", user=manager, query_string={**query, "format": "csv"})
        )
    assert len(statements) == 4
    assert len(rows) == VEHICLES + 1
    for row, figures in zip(rows, [*report["vehicles"], {**totals, "vehicle_id": ""}], strict=True):
        assert row["vehicle_id"] == (figures["vehicle_id"] or "")
        for column in ("km_driven", "liters", "fuel_cost", "maintenance_cost", "cost_per_km"):
            assert Decimal(row[column]) == Decimal(str(figures[column])), column
        for fuel in figures["fuel_types"]:
            name = fuel["fuel_type"]
            assert Decimal(row[f"{name}_liters"]) == Decimal(fuel["liters"])
            assert Decimal(row[f"{name}_fuel_cost"]) == Decimal(fuel["fuel_cost"])
            assert Decimal(row[f"{name}_km_per_liter"]) == Decimal(fuel["km_per_liter"])
    assert rows[-1]["plate"] == "TOTAL"

    vehicle = hundred_thousand_fills[0]
    with counting_queries(engine) as statements:
        one = fleet_api.get(f"{REPORTS}/vehicles/{vehicle.id}", user=manager, query_string=query)
    assert len(statements) == 4
    assert one.json["vehicle"] == next(
        v for v in report["vehicles"] if v["vehicle_id"] == str(vehicle.id)
    )
