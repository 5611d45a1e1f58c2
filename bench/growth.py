"""Scenario 4: does cost stay flat as tables grow? p50 of the vehicle list, one vehicle's
report and the alerts, with 10 000 and then 1 000 000 fuel logs (and as many odometer
readings) in the fleet tables. Keyset pagination and indexes should keep the ratio
near 1: the measured vehicle's own history does not change, only everyone else's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2

from bench.harness import BenchStack, median_spread, wrk

VEHICLES = 200
SMALL_FILLS = 50  # per vehicle: 10 000 in all
LARGE_FILLS = 5_000  # per other vehicle: about 1 000 000 in all
START = datetime(2025, 1, 1, tzinfo=UTC)

ADD_VEHICLES = """
INSERT INTO fleet.vehicles (id, plate, make, model, year, fuel_types, status)
SELECT gen_random_uuid(), 'BNC' || lpad(n::text, 4, '0'), 'Fiat', 'Strada', 2022,
       ARRAY['gasoline', 'ethanol']::varchar[], 'active'
FROM generate_series(1, %(vehicles)s) AS n
"""
# Each vehicle fills up every hour, 500 km further each time, from fill %(first)s on.
ADD_FILLS = """
WITH fills AS (
    SELECT v.id AS vehicle_id, n %% 2 = 0 AS full_tank,
           %(start)s::timestamptz + n * interval '1 hour' AS filled_at,
           10000 + 500 * n AS km
    FROM fleet.vehicles v, generate_series(%(first)s, %(last)s) AS n
    WHERE v.plate LIKE 'BNC%%' AND v.plate <> %(spared)s
), readings AS (
    INSERT INTO fleet.odometer_readings (id, vehicle_id, km, read_at, source, author_user_id)
    SELECT gen_random_uuid(), vehicle_id, km, filled_at, 'fuel', %(author)s::uuid FROM fills
    RETURNING id, vehicle_id, km, read_at
)
INSERT INTO fleet.fuel_logs (id, vehicle_id, filled_at, odometer_km, odometer_reading_id,
                             fuel_type, liters, total_cost, full_tank, missed_previous,
                             author_user_id)
SELECT gen_random_uuid(), r.vehicle_id, r.read_at, r.km, r.id, 'gasoline',
       CASE WHEN f.full_tank THEN 40 ELSE 10 END, CASE WHEN f.full_tank THEN 200 ELSE 50 END,
       f.full_tank, false, %(author)s::uuid
FROM readings r JOIN fills f ON f.vehicle_id = r.vehicle_id AND f.filled_at = r.read_at
"""
PROBE = "BNC0001"


def _execute(url: str, sql: str, **params: object) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            cur.execute("ANALYZE")
    finally:
        conn.close()


def _probe_id(url: str) -> str:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM fleet.vehicles WHERE plate = %s", (PROBE,))
            return str(cur.fetchone()[0])
    finally:
        conn.close()


def _p50s(bench: BenchStack, token: str, probe: str, rounds: int) -> dict[str, float]:
    end = START + timedelta(days=400)
    paths = {
        "list": "/api/v1/fleet/vehicles?limit=20",
        "report": f"/api/v1/fleet/reports/vehicles/{probe}?from={START:%Y-%m-%dT%H:%M:%SZ}"
        f"&to={end:%Y-%m-%dT%H:%M:%SZ}",
        "alerts": "/api/v1/fleet/alerts",
    }
    headers = {"Authorization": f"Bearer {token}"}
    return {
        name: median_spread(
            [
                wrk(bench.url() + path, headers=headers, connections=2, seconds=4).p50_ms
                for _ in range(rounds)
            ]
        )[0]
        for name, path in paths.items()
    }


def run(bench: BenchStack, *, rounds: int) -> list[str]:
    url = bench.settings.database_url or ""
    user_id = bench.create_manager()
    token = bench.client_token(user_id)
    _execute(url, ADD_VEHICLES, vehicles=VEHICLES)
    common = {"start": START, "author": user_id}
    _execute(url, ADD_FILLS, first=0, last=SMALL_FILLS - 1, spared="", **common)
    probe = _probe_id(url)
    small = _p50s(bench, token, probe, rounds)
    _execute(url, ADD_FILLS, first=SMALL_FILLS, last=LARGE_FILLS - 1, spared=PROBE, **common)
    large = _p50s(bench, token, probe, rounds)
    return [
        f"| 4 | p50 with 1 000 000 / 10 000 fuel logs: {name} | {large[name] / small[name]:.2f} "
        f"({small[name]:.1f} → {large[name]:.1f} ms) |"
        for name in ("list", "report", "alerts")
    ]
