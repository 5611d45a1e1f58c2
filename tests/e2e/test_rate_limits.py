"""Rate limits shared by 4 gateway workers (Redis going away: tests/faults/test_redis_outage.py)."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from auth_service.models import AuditEvent
from shared.db import make_engine
from tests.e2e.conftest import ADMIN_PASSWORD, RunningStack, module_stack
from tests.e2e.helpers import db_user_id, token_for, vehicles

DEFAULT_LIMIT = 30
LOGIN_LIMIT = 5
REDIS_TIMEOUT = 0.25
ADMIN_LOGIN = {"username": "admin", "password": ADMIN_PASSWORD}
PARALLEL = 80
REDIS_DOWN_PARALLEL = 40


limited_stack = module_stack(
    "limits-var",
    parts=("auth", "fleet", "gateway"),
    RATE_LIMIT_DEFAULT=f"{DEFAULT_LIMIT}/minute",
    RATE_LIMIT_LOGIN=f"{LOGIN_LIMIT}/minute",
    REDIS_TIMEOUT_SECONDS=str(REDIS_TIMEOUT),
    # The tests pose as different client addresses (X-Forwarded-For), so
    # that one test's login counters are not another's.
    TRUSTED_PROXIES="127.0.0.1/32",
)


def test_the_31st_request_is_429_whichever_worker_serves_it(limited_stack):
    token = token_for(limited_stack, db_user_id(limited_stack))
    # A new connection per request spreads them over the 4 workers.
    responses = [vehicles(limited_stack, token) for _ in range(DEFAULT_LIMIT)]
    assert [r.status_code for r in responses] == [200] * DEFAULT_LIMIT
    assert responses[0].headers["RateLimit-Limit"] == str(DEFAULT_LIMIT)
    assert responses[0].headers["RateLimit-Remaining"] == str(DEFAULT_LIMIT - 1)
    assert responses[-1].headers["RateLimit-Remaining"] == "0"
    assert 0 < int(responses[0].headers["RateLimit-Reset"]) <= 60

    refused = vehicles(limited_stack, token)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Limit"] == str(DEFAULT_LIMIT)

    other = vehicles(limited_stack, token_for(limited_stack, db_user_id(limited_stack)))
    assert other.status_code == 200


def test_health_is_never_limited(limited_stack):
    for _ in range(DEFAULT_LIMIT + 5):
        assert requests.get(f"{limited_stack.url}/livez", timeout=5).status_code == 200


_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other test of this stack has used."""
    return f"203.0.113.{next(_addresses)}"


def login(stack: RunningStack, address: str, body: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{stack.url}/api/v1/auth/login",
        json=body,
        headers={"X-Forwarded-For": address},
        timeout=30,
    )


def wrong_guess() -> dict[str, str]:
    return {"username": f"guess-{uuid.uuid4().hex[:8]}", "password": "wrong-password-x"}


def audited_attempts(stack: RunningStack, address: str) -> Counter[str]:
    """Login attempts that reached the auth service from ``address``, by audit action."""
    engine = make_engine(stack.settings.database_url or "", stack.settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(AuditEvent.action, sa.func.count())
                .where(AuditEvent.ip == address)
                .group_by(AuditEvent.action)
            )
            return Counter({action: count for action, count in rows})
    finally:
        engine.dispose()


def guess_in_parallel(stack: RunningStack, address: str, parallel: int = PARALLEL) -> Counter[int]:
    barrier = threading.Barrier(parallel)

    def guess(_n: int) -> int:
        barrier.wait(timeout=30)
        return login(stack, address, wrong_guess()).status_code

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return Counter(pool.map(guess, range(parallel)))


def test_failed_logins_are_limited_per_ip_but_successful_ones_are_not(limited_stack):
    address = new_address()
    # The first admin logs in with its one-time password more often than the limit.
    for _ in range(LOGIN_LIMIT + 2):
        ok = login(limited_stack, address, ADMIN_LOGIN)
        assert ok.status_code == 200
        assert ok.headers["RateLimit-Remaining"] == str(LOGIN_LIMIT)
    for n in range(LOGIN_LIMIT):
        bad = login(limited_stack, address, wrong_guess())
        assert bad.status_code == 401
        assert bad.headers["RateLimit-Remaining"] == str(LOGIN_LIMIT - n - 1)
    throttled = login(limited_stack, address, ADMIN_LOGIN)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    # Refused at the gateway: the auth service never saw it.
    assert audited_attempts(limited_stack, address)["login_refused"] == 0
    assert login(limited_stack, new_address(), ADMIN_LOGIN).status_code == 200


def test_80_parallel_guesses_reach_the_auth_service_exactly_login_limit_times(limited_stack):
    address = new_address()
    statuses = guess_in_parallel(limited_stack, address)
    assert statuses == {401: LOGIN_LIMIT, 429: PARALLEL - LOGIN_LIMIT}, statuses
    # The gateway reserved before forwarding: the rest never got past it.
    reached = audited_attempts(limited_stack, address)
    assert reached == {"login_failed": LOGIN_LIMIT}, reached


def test_with_redis_stopped_parallel_guesses_are_still_hashed_exactly_login_limit_times(
    limited_stack,
):
    address = new_address()
    limited_stack.redis_process.stop()
    try:
        # Fewer than 80: every one of them now reaches the auth service, whose
        # 2 workers of 4 threads must answer all within UPSTREAM_READ_TIMEOUT.
        statuses = guess_in_parallel(limited_stack, address, parallel=REDIS_DOWN_PARALLEL)
    finally:
        limited_stack.redis_process.start()
    assert statuses == {401: LOGIN_LIMIT, 429: REDIS_DOWN_PARALLEL - LOGIN_LIMIT}, statuses
    reached = audited_attempts(limited_stack, address)
    # The gateway let everything through (fail open); PostgreSQL counted.
    assert reached == {
        "login_failed": LOGIN_LIMIT,
        "login_refused": REDIS_DOWN_PARALLEL - LOGIN_LIMIT,
    }, reached
