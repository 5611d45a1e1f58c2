"""Scenario 7: webhooks. How many deliveries a second the fleet worker makes to a local
receiver, and the API's p50 for writes that record events (trip check-out and check-in)
with and without a dead endpoint subscribed — one that holds every delivery open until
the worker's timeout. The API only writes the event and its delivery rows, so the ratio
should stay near 1."""

from __future__ import annotations

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
# Trips (a check-out and a check-in each) per round and side.
TRIPS = 60
TRIP_EVENTS = ["trip.checked_out", "trip.checked_in"]


def subscribe(http: requests.Session, bench: BenchStack, url: str, events: list[str]) -> str:
    response = http.post(
        f"{bench.url()}/api/v1/fleet/webhooks",
        json={"url": url, "events": events, "secret": "bench-secret-" + "s" * 20},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def deliveries_per_second(bench: BenchStack, http: requests.Session, receiver: Receiver) -> float:
    """EVENTS events committed at once, then the time until the receiver has them all."""
    receiver.received.clear()
    webhook_id = subscribe(http, bench, receiver.url, ["fine.created"])
    engine = make_engine(bench.settings.database_url or "", bench.settings)
    try:
        with Session(engine) as db_session:
            for n in range(EVENTS):
                record_event(db_session, "fine.created", {"n": n})
            db_session.commit()
            started = time.monotonic()
        receiver.wait_for(EVENTS, timeout=600)
        elapsed = time.monotonic() - started
    finally:
        engine.dispose()
        http.delete(f"{bench.url()}/api/v1/fleet/webhooks/{webhook_id}", timeout=10)
    return EVENTS / elapsed


def trip_latencies(bench: BenchStack, http: requests.Session, ids: tuple[str, str]) -> list[float]:
    """Milliseconds of each check-out and check-in of TRIPS trips."""
    vehicle_id, driver_id = ids
    trips = f"{bench.url()}/api/v1/fleet/trips"
    latencies: list[float] = []
    km = int(time.time())  # increasing from round to round
    for _ in range(TRIPS):
        km += 10
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
        km += 10
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


def api_p50_with_a_dead_endpoint(
    bench: BenchStack, http: requests.Session, rounds: int
) -> tuple[list[float], list[float]]:
    """p50s of the trip writes, rounds alternating without and with a dead subscriber."""
    ids = seed_trip(bench)
    without: list[float] = []
    with_dead: list[float] = []
    with receiving() as dead:
        dead.hang()
        for _ in range(rounds):
            without.append(statistics.median(trip_latencies(bench, http, ids)))
            webhook_id = subscribe(http, bench, dead.url, TRIP_EVENTS)
            with_dead.append(statistics.median(trip_latencies(bench, http, ids)))
            http.delete(f"{bench.url()}/api/v1/fleet/webhooks/{webhook_id}", timeout=10)
    return without, with_dead


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
        rates = [deliveries_per_second(bench, http, receiver) for _ in range(rounds)]
        without, with_dead = api_p50_with_a_dead_endpoint(bench, http, rounds)
    rate, rate_spread = median_spread(rates)
    p50_without, spread_without = median_spread(without)
    p50_with, spread_with = median_spread(with_dead)
    concurrency = bench.settings.worker_concurrency
    return [
        f"| 7 | webhook deliveries to a local receiver, {EVENTS} events at once, one fleet "
        f"worker ({concurrency} at a time) | {rate:.0f} ± {rate_spread / 2:.0f} /s |",
        f"| 7 | trip check-out/check-in p50 through the gateway, without / with a dead "
        f"subscriber (holds each delivery 10 s) | {p50_without:.1f} ± {spread_without / 2:.1f} "
        f"ms / {p50_with:.1f} ± {spread_with / 2:.1f} ms = {p50_with / p50_without:.2f} |",
    ]
