"""Rate limits shared by 4 gateway workers (Redis going away: tests/faults/test_redis_outage.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import ADMIN_PASSWORD, RunningStack, running_stack
from tests.e2e.helpers import db_user_id, token_for, vehicles
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
