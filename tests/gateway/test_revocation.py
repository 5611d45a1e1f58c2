"""The gateway believes Redis about revocations only as far as Redis is complete.

The upstream plays the auth service (tests/gateway/conftest.py): its revocation
version counts the tokens it reports revoked. Nothing here publishes to Redis,
as when the auth service's publish was lost to a Redis stall.
"""

from __future__ import annotations

import time
import uuid

import jwt
import redis

from gateway import metrics
from shared.revocation import RevocationCache
from tests.gateway.conftest import access_token, assert_json_error, bearer, settings_of
from tests.support.processes import free_port

PROTECTED = "/api/v1/fleet/vehicles"
CONTRACT_SECONDS = 1.0


def cache_of(app) -> RevocationCache:
    settings = settings_of(app)
    return RevocationCache(redis.Redis.from_url(settings.redis_url), settings.redis_prefix)


def jti_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def wait_for_version(cache: RevocationCache, version: int) -> None:
    deadline = time.monotonic() + 5
    while cache.version() != version:
        assert time.monotonic() < deadline, cache.version()
        time.sleep(0.05)


def test_a_revocation_redis_never_received_is_enforced_within_a_second(
    gateway_app, client, upstream
):
    token = access_token(gateway_app)
    cache = cache_of(gateway_app)
    assert client.get(PROTECTED, headers=bearer(token)).status_code == 200
    wait_for_version(cache, 0)  # the gateway loaded the (empty) state into Redis
    assert client.get(PROTECTED, headers=bearer(token)).status_code == 200  # believed, remembered

    upstream.revoke(jti_of(token))  # committed in "PostgreSQL" only: version 1
    revoked_at = time.monotonic()
    while True:
        response = client.get(PROTECTED, headers=bearer(token))
        if response.status_code == 401:
            break
        assert time.monotonic() - revoked_at < CONTRACT_SECONDS, "still let through"
        time.sleep(0.02)
    assert_json_error(response, 401, "token_revoked")
    # The gateway brought Redis up to date from the snapshot.
    wait_for_version(cache, 1)
    assert cache.status(jti_of(token), str(uuid.uuid4())).jti_revoked
    other = client.get(PROTECTED, headers=bearer(access_token(gateway_app)))
    assert other.status_code == 200


def test_when_the_auth_service_cannot_give_the_version_redis_is_believed_and_it_is_counted(
    make_gateway, upstream
):
    app = make_gateway(AUTH_URL=f"http://127.0.0.1:{free_port()}")
    cache_of(app).load([], {}, 7)
    failures = metrics.REVOCATION_VERSION_FAILURES._value.get()
    client = app.test_client()
    for _ in range(3):
        response = client.get(PROTECTED, headers=bearer(access_token(app)))
        assert response.status_code == 200
    assert metrics.REVOCATION_VERSION_FAILURES._value.get() > failures
