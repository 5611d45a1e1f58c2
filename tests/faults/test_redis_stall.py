"""A revocation that commits in PostgreSQL while Redis stalls or is gone still takes
effect in every gateway worker within one second, and Redis catches up afterwards.

``CLIENT PAUSE <ms> WRITE`` is the nasty case: Redis keeps answering reads (with
the state from before the change) while the auth service's publish times out, so
a gateway that believes whatever Redis reads would keep accepting the token.
The Redis is the stack's own (never the machine's).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import psutil
import pytest
import requests
import sqlalchemy as sa
from prometheus_client.mmap_dict import MmapedDict

from shared.db import make_engine
from tests.e2e.conftest import RunningStack, module_stack
from tests.e2e.helpers import admin_token, bearer, new_user
from tests.e2e.test_revocation import change_password, change_role, deactivate, logout

PAUSE_MS = 5000
CONTRACT_SECONDS = 1.0
GATEWAY_WORKERS = 4
# Requests after the contract's second, while Redis is still paused: enough that
# each gateway worker answers several (and the test checks that each did).
MIN_PROBES_AFTER_CONTRACT = 24

AUDITED_AS = {
    "logout": "logout",
    "password_change": "password_changed",
    "deactivation": "deactivated",
    "role_change": "role_changed",
}


stalling_stack = module_stack(
    "redis-stall-var",
    parts=("auth", "gateway"),
    gateway_workers=GATEWAY_WORKERS,
    RATE_LIMIT_DEFAULT="100000/minute",
    RATE_LIMIT_LOGIN="100000/minute",
    REDIS_TIMEOUT_SECONDS="0.25",
)


@dataclass(frozen=True)
class Probe:
    sent_at: float  # wall clock, comparable with PostgreSQL's clock_timestamp()
    status: int
    code: str | None


class Prober:
    """Sends ``GET /me`` with one token, over a new connection each time, until stopped."""

    def __init__(self, stack: RunningStack, token: str) -> None:
        self.url = f"{stack.url}/api/v1/auth/me"
        self.headers = bearer(token)
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(4)]

    def _run(self) -> None:
        while not self._stop.is_set():
            sent_at = time.time()
            response = requests.get(self.url, headers=self.headers, timeout=10)
            code = response.json()["error"]["code"] if response.status_code >= 400 else None
            self.probes.append(Probe(sent_at, response.status_code, code))

    def __enter__(self) -> Prober:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def sent_between(self, start: float, end: float) -> list[Probe]:
        return [p for p in self.probes if start <= p.sent_at < end]


def refusals_by_worker(stack: RunningStack) -> dict[str, float]:
    """How many 401s each gateway worker has answered so far, from its own metrics file."""
    refusals: dict[str, float] = {}
    for path in (stack.settings.var_dir / "metrics" / "gateway").glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            if sample == "frota_http_requests_total" and labels["status"] == "401":
                refusals[path.stem] = refusals.get(path.stem, 0.0) + value
    return refusals


class WorkerRefusals:
    """Which gateway workers answered 401 between ``start()`` and ``stop()``."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.before: dict[str, float] = {}
        self.workers: set[str] = set()

    def start(self) -> None:
        self.before = refusals_by_worker(self.stack)

    def stop(self) -> None:
        after = refusals_by_worker(self.stack)
        self.workers = {w for w, n in after.items() if n > self.before.get(w, 0.0)}


def committed_at(stack: RunningStack, user_id: str, ending: str) -> float:
    """When PostgreSQL recorded the change (its audit event, written just before commit)."""
    engine = make_engine(stack.settings.database_url or "", stack.settings)
    try:
        with engine.connect() as connection:
            at: datetime = connection.execute(
                sa.text(
                    "SELECT max(at) FROM auth.audit_events"
                    " WHERE target_id = :user AND action = :action"
                ),
                {"user": user_id, "action": AUDITED_AS[ending]},
            ).scalar_one()
            return at.timestamp()
    finally:
        engine.dispose()


def versions(stack: RunningStack) -> tuple[int, int | None]:
    """(PostgreSQL's revocation version, the version Redis says it is complete up to)."""
    engine = make_engine(stack.settings.database_url or "", stack.settings)
    try:
        with engine.connect() as connection:
            pg = connection.execute(
                sa.text("SELECT version FROM auth.revocation_version")
            ).scalar_one()
    finally:
        engine.dispose()
    # redis-py types a reply as "maybe awaitable"; the sync client returns the value.
    cached = cast(bytes | None, stack.redis.get(f"{stack.settings.redis_prefix}:rev:version"))
    return int(pg), None if cached is None else int(cached)


def redis_caught_up(stack: RunningStack, timeout: float = 10.0) -> bool:
    """Wait until Redis says it is complete up to PostgreSQL's version; False if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pg, cached = versions(stack)
        if cached is not None and cached >= pg:
            return True
        time.sleep(0.1)
    return False


def end_sessions(http, stack: RunningStack, user: dict, ending: str, admin: str) -> None:
    changes: dict[str, Callable[[], object]] = {
        "logout": lambda: logout(http, stack, user),
        "password_change": lambda: change_password(http, stack, user),
        "deactivation": lambda: deactivate(http, stack, user, admin=admin),
        "role_change": lambda: change_role(http, stack, user, admin=admin),
    }
    changes[ending]()


def assert_rejected_within_a_second(prober: Prober, committed: float, until: float) -> None:
    after_contract = prober.sent_between(committed + CONTRACT_SECONDS, until)
    accepted = [p for p in after_contract if p.status != 401]
    assert not accepted, f"{len(accepted)} of {len(after_contract)} still let through"
    assert {p.code for p in after_contract} == {"token_revoked"}
    assert len(after_contract) >= MIN_PROBES_AFTER_CONTRACT, len(after_contract)


def fresh_gateway_workers(stack: RunningStack) -> None:
    """Replace the gateway's workers (SIGHUP) and wait for the new ones.

    gunicorn recycles a worker after about 2000 requests, and the probers of
    the earlier tests send thousands: a recycle inside a test's window would
    leave a worker that answered nothing there. Fresh workers have the whole
    budget ahead of them.
    """
    master = psutil.Process(stack.stack.processes["gateway"].pid)
    old = {worker.pid for worker in master.children()}
    master.send_signal(signal.SIGHUP)
    # The old workers stop accepting at once and only finish what they hold
    # (up to the graceful timeout): the new ones alone are waited for.
    deadline = time.monotonic() + 30
    while True:
        fresh = {worker.pid for worker in master.children()} - old
        if len(fresh) == GATEWAY_WORKERS:
            return
        assert time.monotonic() < deadline, f"gateway workers not replaced: {old} -> {fresh}"
        time.sleep(0.05)


def warm_up(http, stack: RunningStack, user: dict) -> None:
    """Every worker is fresh, has seen the token and holds a "not revoked" answer for it."""
    fresh_gateway_workers(stack)
    for _ in range(40):
        response = http.get(f"{stack.url}/api/v1/auth/me", headers=bearer(user["access_token"]))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("ending", sorted(AUDITED_AS))
def test_a_change_committed_while_redis_pauses_writes_takes_effect_within_a_second(
    stalling_stack, http, ending
):
    stack = stalling_stack
    user = new_user(http, stack)
    admin = admin_token(http, stack)
    warm_up(http, stack, user)
    refusals = WorkerRefusals(stack)
    with Prober(stack, user["access_token"]) as prober:
        time.sleep(0.2)
        stack.redis.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
        pause_ends = time.time() + PAUSE_MS / 1000
        end_sessions(http, stack, user, ending, admin)
        committed = committed_at(stack, user["id"], ending)
        # Redis still answers reads, still paused: its answer is the stale one.
        assert time.time() < committed + CONTRACT_SECONDS + 1.5 < pause_ends
        time.sleep(max(0.0, committed + CONTRACT_SECONDS - time.time()))
        refusals.start()
        time.sleep(max(0.0, pause_ends - 0.1 - time.time()))
        refusals.stop()
        time.sleep(0.4)
        caught_up = redis_caught_up(stack)
        time.sleep(0.5)
    assert_rejected_within_a_second(prober, committed, pause_ends - 0.1)
    assert len(refusals.workers) >= GATEWAY_WORKERS, refusals.workers
    assert caught_up, versions(stack)
    # After the pause, Redis caught up and the token stays rejected.
    after = prober.sent_between(pause_ends + 0.3, time.time())
    assert after
    assert {(p.status, p.code) for p in after} == {(401, "token_revoked")}


@pytest.mark.parametrize("ending", sorted(AUDITED_AS))
def test_a_change_committed_while_redis_is_down_holds_when_it_returns_with_older_data(
    stalling_stack, http, ending
):
    """Redis stops during the change and comes back with its data from before it, as
    after a restart from a snapshot or a failover to a replica that missed the write."""
    stack = stalling_stack
    user = new_user(http, stack)
    admin = admin_token(http, stack)
    warm_up(http, stack, user)
    refusals = WorkerRefusals(stack)
    stack.redis.save()
    with Prober(stack, user["access_token"]) as prober:
        time.sleep(0.2)
        stack.redis_process.stop()
        try:
            end_sessions(http, stack, user, ending, admin)
        finally:
            stack.redis_process.start()
        committed = committed_at(stack, user["id"], ending)
        # Back at once, with the old state: not to be believed until it has caught up.
        time.sleep(max(0.0, committed + CONTRACT_SECONDS - time.time()))
        refusals.start()
        time.sleep(2.0)
        caught_up = redis_caught_up(stack)
        time.sleep(0.5)
        refusals.stop()
    # Rejected from a second after the commit on: while Redis was down, after it
    # came back stale, and after it caught up.
    assert_rejected_within_a_second(prober, committed, time.time())
    assert len(refusals.workers) >= GATEWAY_WORKERS, refusals.workers
    assert caught_up, versions(stack)
