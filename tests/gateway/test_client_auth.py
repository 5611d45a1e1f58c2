"""Client tokens are verified at the gateway, and only there.

A request whose token is missing, forged, expired, meant for someone else or
of the wrong kind is answered 401 with a ``WWW-Authenticate: Bearer`` challenge
and the JSON error body — never 422 or 500 — and it never reaches a service.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask import Flask

from shared.internal_auth import INTERNAL_TOKEN_HEADER, verify_internal_token
from tests.gateway.conftest import (
    Upstream,
    access_token,
    assert_json_error,
    bearer,
    forge_token,
    hand_made_token,
    refresh_token,
    settings_of,
    token_claims,
)

PROTECTED = "/api/v1/fleet/vehicles"
OTHER_SECRET = "some-other-jwt-secret-" + "q" * 40


def jwt_secret(app: Flask) -> str:
    return settings_of(app).jwt_secret_key


def identity_seen_upstream(app: Flask, upstream: Upstream, service: str) -> Any:
    credential = upstream.only().header(INTERNAL_TOKEN_HEADER)
    assert credential is not None, "the service was sent no internal credential"
    return verify_internal_token(credential, settings_of(app).internal_secret_key, audience=service)


# --- what is accepted (so that each refusal below tests exactly one thing) -----------------


def test_an_access_token_from_the_auth_service_is_forwarded(client, gateway_app, upstream):
    user_id = str(uuid.uuid4())
    token = access_token(gateway_app, user_id=user_id, role="driver")
    response = client.get(PROTECTED, headers=bearer(token))
    assert response.status_code == 200
    identity = identity_seen_upstream(gateway_app, upstream, "fleet")
    assert (identity.user_id, identity.role) == (user_id, "driver")


def test_a_token_forged_with_the_real_key_and_valid_claims_is_accepted(
    client, gateway_app, upstream
):
    user_id = str(uuid.uuid4())
    token = forge_token(jwt_secret(gateway_app), sub=user_id, role="admin")
    response = client.get(PROTECTED, headers=bearer(token))
    assert response.status_code == 200
    assert identity_seen_upstream(gateway_app, upstream, "fleet").user_id == user_id


def test_the_bearer_scheme_name_is_case_insensitive(client, gateway_app, upstream):
    token = access_token(gateway_app)
    response = client.get(PROTECTED, headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


# --- what is refused -----------------------------------------------------------------------

TokenCase = Callable[[Flask], dict[str, str]]


def _header(value: str) -> TokenCase:
    return lambda app: {"Authorization": value}


def _forged(**overrides: Any) -> TokenCase:
    return lambda app: bearer(forge_token(jwt_secret(app), **overrides))


def _tampered(app: Flask) -> dict[str, str]:
    """A real token whose payload was edited to claim admin; the signature is the original."""
    header, _, signature = access_token(app, role="driver").split(".")
    edited = hand_made_token(token_claims(role="admin"), alg="none").split(".")[1]
    return bearer(f"{header}.{edited}.{signature}")


MISSING = {
    "no Authorization header": lambda app: {},
    "Basic scheme": _header("Basic dXNlcjpwYXNzd29yZA=="),
    "Bearer without a token": _header("Bearer "),
    "token without a scheme": lambda app: {"Authorization": access_token(app)},
}

INVALID = {
    "signed with another key": lambda app: bearer(forge_token(OTHER_SECRET)),
    "alg none, unsigned": lambda app: bearer(hand_made_token(token_claims(), alg="none")),
    "alg none, signature kept from a real token": lambda app: bearer(
        hand_made_token(token_claims(), alg="none") + access_token(app).split(".")[2]
    ),
    "HS512 with the real key": lambda app: bearer(
        hand_made_token(token_claims(), secret=jwt_secret(app), alg="HS512")
    ),
    "payload edited after signing": _tampered,
    "not yet valid (nbf in an hour)": _forged(nbf=int(time.time()) + 3600),
    "wrong audience": _forged(aud="some-other-api"),
    "no audience": _forged(aud=None),
    "wrong issuer": _forged(iss="someone-else"),
    "no issuer": _forged(iss=None),
    "garbage": _header("Bearer not-a-jwt"),
    "three garbage segments": _header("Bearer a.b.c"),
    "JSON that is not an object": lambda app: bearer(
        jwt.api_jws.encode(b"[1, 2, 3]", jwt_secret(app), algorithm="HS256")
    ),
    "refresh token used as an access token": lambda app: bearer(refresh_token(app)),
    "unknown token type": _forged(type="id"),
    "no role claim": _forged(role=None),
    "unknown role": _forged(role="superuser"),
    "role that is not a string": _forged(role=["admin"]),
    "numeric role": _forged(role=1),
    "no subject": _forged(sub=None),
    "empty subject": _forged(sub=""),
    "numeric subject": _forged(sub=42),
    "no expiry (a token that would never expire)": _forged(exp=None),
}

EXPIRED = {
    "expired an hour ago": _forged(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
}


def _cases(cases: dict[str, TokenCase], code: str) -> list[Any]:
    return [pytest.param(make, code, id=name) for name, make in cases.items()]


@pytest.mark.parametrize(
    ("make_headers", "code"),
    _cases(MISSING, "token_required")
    + _cases(INVALID, "invalid_token")
    + _cases(EXPIRED, "token_expired"),
)
def test_a_bad_or_missing_token_is_401_with_a_bearer_challenge_and_never_forwarded(
    client, gateway_app, upstream, make_headers, code
):
    response = client.get(PROTECTED, headers=make_headers(gateway_app))
    assert_json_error(response, 401, code)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert upstream.received == []


def test_a_revoked_token_is_401_and_never_forwarded(client, gateway_app, upstream):
    token = access_token(gateway_app)
    upstream.revoke(jwt.decode(token, options={"verify_signature": False})["jti"])
    response = client.get(PROTECTED, headers=bearer(token))
    assert_json_error(response, 401, "token_revoked")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert upstream.received == []
    other = client.get(PROTECTED, headers=bearer(access_token(gateway_app)))
    assert other.status_code == 200


def test_the_challenge_names_invalid_token_only_when_a_token_was_sent(client, gateway_app):
    missing = client.get(PROTECTED)
    forged = client.get(PROTECTED, headers=bearer(forge_token(OTHER_SECRET)))
    assert "error=" not in missing.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_are_refused_the_same_way_without_reading_the_body(
    client, gateway_app, upstream, method
):
    response = client.open(PROTECTED, method=method, json={"plate": "ABC1234"})
    assert_json_error(response, 401, "token_required")
    assert upstream.received == []


# --- token kinds per route -----------------------------------------------------------------


def test_the_refresh_route_takes_a_refresh_token(client, gateway_app, upstream):
    user_id = str(uuid.uuid4())
    response = client.post(
        "/api/v1/auth/refresh", headers=bearer(refresh_token(gateway_app, user_id=user_id))
    )
    assert response.status_code == 200
    assert identity_seen_upstream(gateway_app, upstream, "auth").user_id == user_id


def test_the_refresh_route_refuses_an_access_token(client, gateway_app, upstream):
    response = client.post("/api/v1/auth/refresh", headers=bearer(access_token(gateway_app)))
    assert_json_error(response, 401, "invalid_token")
    assert upstream.received == []


def test_the_refresh_route_refuses_an_expired_refresh_token(client, gateway_app, upstream):
    now = int(time.time())
    token = forge_token(jwt_secret(gateway_app), type="refresh", iat=now - 7200, exp=now - 3600)
    response = client.post("/api/v1/auth/refresh", headers=bearer(token))
    assert_json_error(response, 401, "token_expired")
    assert upstream.received == []


def test_login_needs_no_token_and_ignores_a_bad_one(client, gateway_app, upstream):
    response = client.post(
        "/api/v1/auth/login",
        json={"username": "maria", "password": "pw"},
        headers={"Authorization": "Bearer not-a-jwt"},
    )
    assert response.status_code == 200
    seen = upstream.only()
    assert seen.header("Authorization") is None
    identity = identity_seen_upstream(gateway_app, upstream, "auth")
    assert (identity.user_id, identity.role) == (None, None)


# --- the must_change_password gate ---------------------------------------------------------

GATED = [
    ("GET", "/api/v1/fleet/vehicles"),
    ("POST", "/api/v1/fleet/vehicles"),
    ("GET", "/api/v1/media/usage"),
    ("GET", "/api/v1/auth/users"),
    ("GET", "/api/v1/auth/me/password"),
    ("POST", "/api/v1/auth/me/password/extra"),
]
ALLOWED_WHILE_GATED = [
    ("POST", "/api/v1/auth/me/password"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
]


@pytest.mark.parametrize(("method", "path"), GATED)
def test_a_user_who_must_change_the_password_can_do_nothing_else(
    client, gateway_app, upstream, method, path
):
    token = access_token(gateway_app, mcp=True)
    response = client.open(path, method=method, headers=bearer(token), json={})
    assert_json_error(response, 403, "password_change_required")
    assert upstream.received == []


@pytest.mark.parametrize(("method", "path"), ALLOWED_WHILE_GATED)
def test_a_user_who_must_change_the_password_may_change_it_see_themselves_and_log_out(
    client, gateway_app, upstream, method, path
):
    user_id = str(uuid.uuid4())
    token = access_token(gateway_app, user_id=user_id, mcp=True)
    body = {"current_password": "old-one", "new_password": "a-much-better-one"}
    response = client.open(path, method=method, headers=bearer(token), json=body)
    assert response.status_code == 200
    seen = upstream.only()
    assert (seen.method, seen.path) == (method, path)
    assert identity_seen_upstream(gateway_app, upstream, "auth").user_id == user_id


def test_without_the_flag_the_same_user_reaches_the_fleet(client, gateway_app, upstream):
    response = client.get(PROTECTED, headers=bearer(access_token(gateway_app, mcp=False)))
    assert response.status_code == 200
    assert upstream.only().path == PROTECTED


def test_a_token_remembered_as_verified_still_expires(make_gateway, upstream):
    app = make_gateway()
    client = app.test_client()
    secret = settings_of(app).jwt_secret_key
    token = forge_token(secret, exp=int(time.time()) + 2)
    assert client.get("/api/v1/fleet/vehicles", headers=bearer(token)).status_code == 200
    time.sleep(2.1)
    expired = client.get("/api/v1/fleet/vehicles", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.json["error"]["code"] == "token_expired"


def test_a_token_verified_by_one_gateway_is_not_trusted_by_one_with_another_key(
    make_gateway, upstream
):
    first = make_gateway()
    other = make_gateway(JWT_SECRET_KEY="another-jwt-secret-" + "z" * 40)
    token = forge_token(settings_of(first).jwt_secret_key)
    assert (
        first.test_client().get("/api/v1/fleet/vehicles", headers=bearer(token)).status_code == 200
    )
    assert (
        other.test_client().get("/api/v1/fleet/vehicles", headers=bearer(token)).status_code == 401
    )
