"""A service worker dies in the middle of a request: the client gets a JSON 502 (not a
hang, not HTML), gunicorn replaces the worker, and the next request succeeds."""

from __future__ import annotations

import signal
import threading
import time

import psutil
import psycopg2
import pytest
import requests

from tests.e2e.conftest import module_stack
from tests.e2e.helpers import db_user_id, token_for

stack = module_stack(
    "kill-var",
    parts=("auth", "fleet", "gateway"),
    gateway_workers=2,
)


def test_a_worker_killed_mid_request_gives_502_and_is_replaced(stack):
    headers = {"Authorization": f"Bearer {token_for(stack, db_user_id(stack))}"}
    url = f"{stack.url}/api/v1/fleet/vehicles"
    assert requests.get(url, headers=headers, timeout=10).status_code == 200

    # Hold the table so the next listing waits inside a fleet worker.
    blocker = psycopg2.connect(stack.settings.database_url)
    blocker.cursor().execute("LOCK TABLE fleet.vehicles IN ACCESS EXCLUSIVE MODE")
    result: dict[str, requests.Response] = {}
    waiting = threading.Thread(
        target=lambda: result.setdefault("r", requests.get(url, headers=headers, timeout=30))
    )
    started = time.monotonic()
    waiting.start()
    try:
        time.sleep(1.5)
        fleet = psutil.Process(stack.stack.processes["fleet"].pid)
        old_workers = fleet.children()
        for worker in old_workers:
            worker.send_signal(signal.SIGKILL)
        waiting.join(30)
    finally:
        blocker.rollback()
        blocker.close()

    response = result["r"]
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 10

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new_workers = [w for w in fleet.children() if w.pid not in {o.pid for o in old_workers}]
        if new_workers and requests.get(url, headers=headers, timeout=10).status_code == 200:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the fleet service did not recover after its workers were killed")
    assert fleet.is_running()
