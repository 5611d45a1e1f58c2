"""PostgreSQL stops for 10 s under load: JSON 503s while it is down, recovery without
restarting anything, and every write that got a 2xx is in the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg2
import pytest
import requests

from tests.e2e.conftest import RunningStack, running_stack
from tests.e2e.helpers import db_user_id, token_for
from tests.support.processes import free_port

OUTAGE_SECONDS = 10
WRITERS = 4


@pytest.fixture(scope="module")
def stack_on_private_postgres(private_postgres, tmp_path_factory) -> Iterator[RunningStack]:
    with running_stack(
        private_postgres.admin_url,
        tmp_path_factory.mktemp("outage-var"),
        parts=("auth", "fleet", "gateway"),
        gateway_workers=2,
        RATE_LIMIT_DEFAULT="1000000/minute",
        MEDIA_PORT=str(free_port()),
    ) as stack:
        yield stack


def plate(n: int, writer: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return f"{letters[writer]}{letters[n // 1000 % 26]}{letters[n // 100 % 10]}{n % 10000:04d}"


def test_writes_during_a_database_outage(private_postgres, stack_on_private_postgres):
    stack = stack_on_private_postgres
    token = token_for(stack, db_user_id(stack))
    headers = {"Authorization": f"Bearer {token}"}
    stop = threading.Event()
    outcomes: list[tuple[str, int, dict]] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            body = {
                "plate": plate(n, writer),
                "make": "Fiat",
                "model": "Drill",
                "year": 2022,
                "fuel_types": ["diesel"],
            }
            try:
                response = session.post(
                    f"{stack.url}/api/v1/fleet/vehicles", json=body, headers=headers, timeout=15
                )
                outcome = (body["plate"], response.status_code, response.json())
            except requests.RequestException as exc:
                outcome = (body["plate"], 0, {"transport_error": str(exc)})
            with lock:
                outcomes.append(outcome)
            n += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        private_postgres.stop()
        outage_started = len(outcomes)
        time.sleep(OUTAGE_SECONDS)
        private_postgres.start()
        outage_ended = len(outcomes)
        # Recovery without restarting any service: successes again within seconds.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                recent = [status for _, status, _ in outcomes[outage_ended:]]
            if recent.count(201) >= 10:
                break
            time.sleep(0.25)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    during = [(status, body) for _, status, body in outcomes[outage_started:outage_ended]]
    assert during, "no request was made while the database was down"
    assert {status for status, _ in during} <= {201, 503}, during[:5]
    assert any(status == 503 for status, _ in during)
    assert all(
        body["error"]["code"] == "database_unavailable" for status, body in during if status == 503
    )
    after = [status for _, status, _ in outcomes[outage_ended:]]
    assert after.count(201) >= 10, after[-20:]
    assert 0 not in {status for _, status, _ in outcomes}, "a request hung or broke off"
    assert 500 not in {status for _, status, _ in outcomes}

    acknowledged = {plate for plate, status, _ in outcomes if status == 201}
    conn = psycopg2.connect(stack.settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT plate FROM fleet.vehicles WHERE model = 'Drill'")
            stored = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert acknowledged <= stored, sorted(acknowledged - stored)[:5]
