"""The gateway's own calls to the services (revocation state, OpenAPI documents, health
probes) go through the one internal client: its credential lives
``INTERNAL_TOKEN_TTL_SECONDS`` like a forwarded request's, and its failures read as
a forwarded request's do."""

from __future__ import annotations

import time

import jwt

from shared.internal_auth import ALGORITHM, INTERNAL_TOKEN_HEADER
from tests.gateway.conftest import access_token, assert_json_error, bearer, settings_of
from tests.support.processes import free_port

PROTECTED = "/api/v1/fleet/vehicles"


def credential_lifetime(token: str, secret: str) -> int:
    # One upstream plays every service, so any audience is the right one here.
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"verify_aud": False})
    assert claims["iss"] == "gateway"
    return claims["exp"] - claims["iat"]


def test_every_call_of_the_gateway_carries_a_credential_of_the_configured_lifetime(
    make_gateway, upstream
):
    app = make_gateway(INTERNAL_TOKEN_TTL_SECONDS="7")
    secret = settings_of(app).internal_secret_key
    client = app.test_client()

    assert client.get(PROTECTED, headers=bearer(access_token(app))).status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    client.get("/health")
    deadline = time.monotonic() + 5
    while "/internal/revocations" not in {r.path for r in upstream.housekeeping}:
        assert time.monotonic() < deadline, "the gateway never loaded Redis"
        time.sleep(0.02)

    calls = [*upstream.housekeeping, *upstream.received]
    paths = {r.path for r in calls}
    assert {
        "/internal/revocation-version",
        "/internal/revocations",
        "/openapi.json",
        "/ready",
        PROTECTED,
    } <= paths
    lifetimes = {
        (call.path, credential_lifetime(call.header(INTERNAL_TOKEN_HEADER) or "", secret))
        for call in calls
    }
    assert {lifetime for _, lifetime in lifetimes} == {7}, lifetimes


def test_a_service_that_cannot_give_its_document_is_502_like_a_forwarded_request(make_gateway):
    app = make_gateway(MEDIA_URL=f"http://127.0.0.1:{free_port()}")
    response = app.test_client().get("/api/v1/openapi.json")
    assert_json_error(response, 502, "upstream_unavailable")


def test_a_health_probe_names_the_transport_failure(make_gateway):
    app = make_gateway(FLEET_URL=f"http://127.0.0.1:{free_port()}")
    body = app.test_client().get("/health").get_json()
    assert body["services"]["fleet"] == {"status": "down", "error": "NewConnectionError"}
