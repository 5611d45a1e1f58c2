"""Rate limits shared by 4 gateway workers, and what happens when Redis goes away."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from gateway.revocation import FALLBACK_TTL_SECONDS
from tests.e2e.conftest import ADMIN_PASSWORD, RunningStack, running_stack
from tests.e2e.helpers import USER_PASSWORD, db_user, db_user_id, token_for
from tests.support.processes import free_port

DEFAULT_LIMIT = 30
LOGIN_LIMIT = 5
REDIS_TIMEOUT = 0.25
ADMIN_LOGIN = {"username": "admin", "password": ADMIN_PASSWORD}
WRONG_LOGIN = {"username": "admin", "password": "wrong-password-x"}


@pytest.fixture(scope="module")
def limited_stack(pg_server_url, tmp_path_factory) -> Iterator[RunningStack]:
    with running_stack(
        pg_server_url,
        tmp_path_factory.mktemp("limits-var"),
        parts=("auth", "fleet", "gateway"),
        RATE_LIMIT_DEFAULT=f"{DEFAULT_LIMIT}/minute",
        RATE_LIMIT_LOGIN=f"{LOGIN_LIMIT}/minute",
        REDIS_TIMEOUT_SECONDS=str(REDIS_TIMEOUT),
        MEDIA_PORT=str(free_port()),
    ) as stack:
        yield stack


def vehicles(stack, token, **kwargs):
    return requests.get(
        f"{stack.url}/api/v1/fleet/vehicles",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        **kwargs,
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


def test_failed_logins_are_limited_per_ip_but_successful_ones_are_not(limited_stack):
    url = f"{limited_stack.url}/api/v1/auth/login"
    # The first admin logs in with its one-time password more often than the limit.
    for _ in range(LOGIN_LIMIT + 2):
        ok = requests.post(url, json=ADMIN_LOGIN, timeout=10)
        assert ok.status_code == 200
    for _ in range(LOGIN_LIMIT):
        bad = requests.post(url, json=WRONG_LOGIN, timeout=10)
        assert bad.status_code == 401
    throttled = requests.post(url, json=ADMIN_LOGIN, timeout=10)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"


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
