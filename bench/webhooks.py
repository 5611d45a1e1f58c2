"""Scenario 7: webhooks. How many deliveries a second the fleet worker makes to a local
receiver, and the API's p50 for writes that record events (trip check-out and check-in)
with and without a dead endpoint subscribed — one that holds every delivery open until
the worker's timeout. The API only writes the event and its delivery rows, so the ratio
should stay near 1."""

from __future__ import annotations

import itertools
import statistics
import time

import requests
from sqlalchemy.orm import Session

from bench.harness import BenchStack, bench_stack, median_spread
from fleet_service.events import record_event
from shared.db import make_engine
from tests.support.factories import make_driver, make_vehicle
from tests.support.receivers import Receiver, receiving

EVENTS = 2000
ENDPOINTS = (1, 4)
# Trips (a check-out and a check-in each) per round and side.
TRIPS = 60
TRIP_EVENTS = ["trip.checked_out", "trip.checked_in"]
# The vehicle's odometer, from round to round.
ODOMETER = itertools.count(1000, 10)


def subscribe(http: requests.Session, bench: BenchStack, url: str, events: list[str]) -> str:
    response = http.post(
        f"{bench.url()}/api/v1/fleet/webhooks",
        json={"url": url, "events": events, "secret": "bench-secret-" + "s" * 20},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def deliveries_per_second(
    bench: BenchStack, http: requests.Session, receiver: Receiver, endpoints: int
) -> float:
    """EVENTS events committed at once, spread over ``endpoints`` webhooks, then the
    time until the receiver has them all."""
    receiver.received.clear()
    webhook_ids = [
        subscribe(http, bench, f"{receiver.url}/{n}", ["fine.created"]) for n in range(endpoints)
    ]
    engine = make_engine(bench.settings.database_url or "", bench.settings)
    try:
        with Session(engine) as db_session:
            for n in range(EVENTS // endpoints):
                record_event(db_session, "fine.created", {"n": n})
            db_session.commit()
            started = time.monotonic()
        delivered = EVENTS // endpoints * endpoints
        receiver.wait_for(delivered, timeout=600)
        elapsed = time.monotonic() - started
    finally:
        engine.dispose()
        for webhook_id in webhook_ids:
            http.delete(f"{bench.url()}/api/v1/fleet/webhooks/{webhook_id}", timeout=10)
    return delivered / elapsed


def trip_latencies(bench: BenchStack, http: requests.Session, ids: tuple[str, str]) -> list[float]:
    """Milliseconds of each check-out and check-in of TRIPS trips."""
    vehicle_id, driver_id = ids
    trips = f"{bench.url()}/api/v1/fleet/trips"
    latencies: list[float] = []
    for _ in range(TRIPS):
        km = next(ODOMETER)
        started = time.perf_counter()
        out = http.post(
            trips,
            json={
                "vehicle_id": vehicle_id,
                "driver_id": driver_id,
                "odometer_km": km,
                "purpose": "bench",
            },
            timeout=30,
        )
        latencies.append((time.perf_counter() - started) * 1000)
        out.raise_for_status()
        km = next(ODOMETER)
        started = time.perf_counter()
        back = http.post(
            f"{trips}/{out.json()['id']}/check-in", json={"odometer_km": km}, timeout=30
        )
        latencies.append((time.perf_counter() - started) * 1000)
        back.raise_for_status()
    return latencies


def seed_trip(bench: BenchStack) -> tuple[str, str]:
    """A vehicle and the driver who takes it out: (vehicle id, driver id)."""
    engine = make_engine(bench.settings.database_url or "", bench.settings)
    try:
        with Session(engine) as db_session:
            vehicle = make_vehicle(db_session)
            driver = make_driver(db_session)
            db_session.commit()
            return str(vehicle.id), str(driver.id)
    finally:
        engine.dispose()


def api_p50s(
    bench: BenchStack, http: requests.Session, live: Receiver, rounds: int
) -> dict[str, list[float]]:
    """p50s of the trip writes, rounds alternating: no subscriber, a live one, a dead one."""
    ids = seed_trip(bench)
    p50s: dict[str, list[float]] = {"none": [], "live": [], "dead": []}
    with receiving() as dead:
        dead.hang()
        for _ in range(rounds):
            p50s["none"].append(statistics.median(trip_latencies(bench, http, ids)))
            for side, receiver in (("live", live), ("dead", dead)):
                webhook_id = subscribe(http, bench, receiver.url, TRIP_EVENTS)
                p50s[side].append(statistics.median(trip_latencies(bench, http, ids)))
                http.delete(f"{bench.url()}/api/v1/fleet/webhooks/{webhook_id}", timeout=10)
    return p50s


def run(*, rounds: int, workers: int) -> list[str]:
    with (
        bench_stack(
            workers=workers,
            parts=("auth", "fleet", "gateway", "fleet-worker"),
            WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
            WEBHOOK_TIMEOUT_SECONDS="10",
        ) as bench,
        requests.Session() as http,
        receiving() as receiver,
    ):
        http.headers["Authorization"] = f"Bearer {bench.client_token(bench.create_manager())}"
        rates = {
            endpoints: [
                deliveries_per_second(bench, http, receiver, endpoints) for _ in range(rounds)
            ]
            for endpoints in ENDPOINTS
        }
        p50s = api_p50s(bench, http, receiver, rounds)
    concurrency = bench.settings.worker_concurrency
    rows = []
    for endpoints, measured in rates.items():
        rate, spread = median_spread(measured)
        rows.append(
            f"| 7 | webhook deliveries to a local receiver: {EVENTS} events at once to "
            f"{endpoints} endpoint(s), one fleet worker ({concurrency} jobs at a time, 2 per "
            f"endpoint) | {rate:.0f} ± {spread / 2:.0f} /s |"
        )
    (none, none_spread), (live, live_spread), (dead, dead_spread) = (
        median_spread(p50s[side]) for side in ("none", "live", "dead")
    )
    rows.append(
        f"| 7 | trip check-out/check-in p50 through the gateway: no subscriber / a live one / "
        f"a dead one (holds each delivery 10 s) | {none:.1f} ± {none_spread / 2:.1f} / "
        f"{live:.1f} ± {live_spread / 2:.1f} / {dead:.1f} ± {dead_spread / 2:.1f} ms; "
        f"dead / live = {dead / live:.2f} |"
    )
    return rows
