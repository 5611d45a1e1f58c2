"""Redis goes away under a gateway with 4 workers: requests keep being served without
stalls (rate limits fail open per worker), revocation is still enforced from PostgreSQL,
and shared limiting resumes when Redis is back. The Redis is the stack's own."""

from __future__ import annotations

import time

import requests

from gateway.revocation import FALLBACK_TTL_SECONDS
from tests.e2e.conftest import module_stack
from tests.e2e.helpers import USER_PASSWORD, db_user, db_user_id, token_for, vehicles

DEFAULT_LIMIT = 30
REDIS_TIMEOUT = 0.25


limited_stack = module_stack(
    "redis-outage-var",
    parts=("auth", "fleet", "gateway"),
    RATE_LIMIT_DEFAULT=f"{DEFAULT_LIMIT}/minute",
    REDIS_TIMEOUT_SECONDS=str(REDIS_TIMEOUT),
)


def test_with_redis_stopped_requests_are_served_without_stalls_and_limits_resume(limited_stack):
    token = token_for(limited_stack, db_user_id(limited_stack))
    assert vehicles(limited_stack, token).status_code == 200
    limited_stack.redis_process.stop()
    try:
        for _ in range(10):
            started = time.monotonic()
            response = vehicles(limited_stack, token)
            elapsed = time.monotonic() - started
            assert response.status_code == 200, response.text
            # A request may pay at most one storage timeout, per worker, per back-off.
            assert elapsed < REDIS_TIMEOUT * 3 + 0.5
    finally:
        limited_stack.redis_process.start()
    # Back on Redis: the shared counter applies again (a fresh user starts from zero).
    fresh = token_for(limited_stack, db_user_id(limited_stack))
    deadline = time.monotonic() + 30
    codes: list[int] = []
    while time.monotonic() < deadline:
        codes = [vehicles(limited_stack, fresh).status_code for _ in range(DEFAULT_LIMIT + 1)]
        if codes[-1] == 429:
            break
        fresh = token_for(limited_stack, db_user_id(limited_stack))
        time.sleep(1)
    assert codes[-1] == 429


def test_with_redis_stopped_revocation_is_still_enforced_from_postgres(limited_stack):
    _, username = db_user(limited_stack)
    tokens = requests.post(
        f"{limited_stack.url}/api/v1/auth/login",
        json={"username": username, "password": USER_PASSWORD},
        timeout=10,
    ).json()
    auth_header = {"Authorization": f"Bearer {tokens['access_token']}"}
    me_url = f"{limited_stack.url}/api/v1/auth/me"
    assert requests.get(me_url, headers=auth_header, timeout=10).status_code == 200
    limited_stack.redis_process.stop()
    try:
        logout = requests.post(
            f"{limited_stack.url}/api/v1/auth/logout", headers=auth_header, json={}, timeout=10
        )
        assert logout.status_code == 204
        # The auth service could not publish to Redis; the gateway asks it instead,
        # reusing each answer for at most FALLBACK_TTL_SECONDS (the contract's 1 s).
        time.sleep(FALLBACK_TTL_SECONDS + 0.1)
        for _ in range(8):
            response = requests.get(me_url, headers=auth_header, timeout=10)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "token_revoked"
    finally:
        limited_stack.redis_process.start()
    # Redis came back empty: the cache is rebuilt from PostgreSQL before it is believed.
    for _ in range(8):
        assert requests.get(me_url, headers=auth_header, timeout=10).status_code == 401
