"""The fleet worker killed (SIGKILL) in the middle of webhook deliveries, then PostgreSQL
stopped for a few seconds: once both are back, every event committed — before the
kill, between the faults and after them — reaches the receiver at least once, with
its delivery id."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import make_engine
from tests.e2e.conftest import RunningStack, running_stack
from tests.e2e.helpers import db_user_id, token_for
from tests.support.factories import make_driver, make_vehicle
from tests.support.receivers import Receiver, receiving

VEHICLES = 3
OUTAGE_SECONDS = 5
# A killed worker's jobs go back to the queue once its heartbeat is 30 s old
# (shared.jobs.STALLED_AFTER_SECONDS), seen by a probe every 10 s; retries start at 1 s.
RECOVERY_SECONDS = 90


@pytest.fixture(scope="module")
def stack(private_postgres, tmp_path_factory) -> Iterator[RunningStack]:
    with running_stack(
        private_postgres.admin_url,
        tmp_path_factory.mktemp("webhook-faults-var"),
        parts=("auth", "fleet", "gateway", "fleet-worker"),
        gateway_workers=2,
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        WEBHOOK_RETRY_BASE_SECONDS="1",
        WEBHOOK_TIMEOUT_SECONDS="30",
    ) as running:
        yield running


def seed(stack: RunningStack) -> list[tuple[str, str]]:
    """Vehicles, each with the driver who takes it out: [(vehicle id, driver id)]."""
    engine = make_engine(stack.settings.database_url or "", stack.settings)
    try:
        with Session(engine) as db_session:
            pairs = [(make_vehicle(db_session), make_driver(db_session)) for _ in range(VEHICLES)]
            db_session.commit()
            return [(str(vehicle.id), str(driver.id)) for vehicle, driver in pairs]
    finally:
        engine.dispose()


class Trips:
    """Check-outs and check-ins through the gateway: each commits one event."""

    def __init__(self, stack: RunningStack, pairs: list[tuple[str, str]]) -> None:
        self.url = f"{stack.url}/api/v1/fleet/trips"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token_for(stack, db_user_id(stack))}"
        self.pairs = pairs
        self.km = 1000
        self.open: list[str] = []

    def check_out_all(self) -> None:
        self.km += 100
        for vehicle_id, driver_id in self.pairs:
            answer = self.http.post(
                self.url,
                json={
                    "vehicle_id": vehicle_id,
                    "driver_id": driver_id,
                    "odometer_km": self.km,
                    "purpose": "drill",
                },
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            self.open.append(answer.json()["id"])

    def check_in_all(self) -> None:
        self.km += 100
        while self.open:
            trip_id = self.open.pop()
            answer = self.http.post(
                f"{self.url}/{trip_id}/check-in", json={"odometer_km": self.km}, timeout=30
            )
            assert answer.status_code == 200, answer.text


def committed_events(stack: RunningStack) -> set[str]:
    engine = sa.create_engine(stack.settings.database_url or "")
    try:
        with engine.connect() as connection:
            return {str(id_) for id_ in connection.scalars(sa.text("SELECT id FROM fleet.events"))}
    finally:
        engine.dispose()


def received_events(receiver: Receiver) -> set[str]:
    return {json.loads(post.body)["id"] for post in list(receiver.received)}


def wait_until_all_arrive(stack: RunningStack, receiver: Receiver) -> tuple[set[str], set[str]]:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        committed, received = committed_events(stack), received_events(receiver)
        if committed <= received or time.monotonic() > deadline:
            return committed, received
        time.sleep(0.5)


def test_no_committed_event_is_lost_to_a_killed_worker_or_a_database_outage(
    private_postgres, stack
):
    trips = Trips(stack, seed(stack))
    worker = stack.stack.processes["fleet-worker"]
    with receiving() as receiver:
        webhook = trips.http.post(
            f"{stack.url}/api/v1/fleet/webhooks",
            json={
                "url": receiver.url,
                "events": ["trip.checked_out", "trip.checked_in"],
                "secret": "drill-secret-0123456789",
            },
            timeout=10,
        )
        assert webhook.status_code == 201, webhook.text

        # The receiver holds what arrives: the worker is mid-delivery (both of the
        # endpoint's slots taken) when it is killed.
        receiver.hang()
        trips.check_out_all()
        receiver.wait_for(2, timeout=30)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        receiver.release()
        stack.stack.start_part("fleet-worker")
        stack.stack.wait_until_healthy()

        # Events committed with the new worker running, then the database goes away.
        trips.check_in_all()
        private_postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        private_postgres.start()
        trips.check_out_all()

        committed, received = wait_until_all_arrive(stack, receiver)
        assert len(committed) == 3 * VEHICLES
        assert committed - received == set(), "events committed but never delivered"
        # Every attempt at one event came under one delivery id.
        deliveries: dict[str, set[str]] = {}
        for post in list(receiver.received):
            event_id = json.loads(post.body)["id"]
            deliveries.setdefault(event_id, set()).add(post.headers["X-Frota-Delivery"])
        assert all(len(ids) == 1 for ids in deliveries.values())
        assert stack.stack.exited() == {}
