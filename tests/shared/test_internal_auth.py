"""The internal credential: minted by the caller, verified by every service on every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from apiflask import APIFlask
from flask import Flask, g, jsonify

from shared.errors import APIError, register_error_handlers
from shared.internal_auth import (
    INTERNAL_TOKEN_HEADER,
    current_identity,
    init_internal_auth,
    mint_internal_token,
    user_auth,
    verify_internal_token,
)
from shared.logs import REQUEST_ID_HEADER, is_valid_request_id
from shared.roles import MANAGERS, ROLE_NAMES

SECRET = "internal-secret-for-tests-" + "z" * 40
OTHER_SECRET = "another-internal-secret--" + "w" * 40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(claims: dict[str, Any], *, secret: str = SECRET, alg: str = "HS256") -> str:
    """A token signed without PyJWT's encode-time checks, as an attacker could build it."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    if alg == "none":
        return f"{header}.{payload}."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    return f"{header}.{payload}.{b64url(hmac.new(secret.encode(), signing_input, digest).digest())}"


def valid_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "gateway",
        "aud": "fleet",
        "iat": now,
        "exp": now + 30,
        "rid": "req-0123456789",
        "sub": str(uuid.uuid4()),
        "role": "manager",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


def assert_refused(token: str, *, audience: str = "fleet", secret: str = SECRET) -> None:
    with pytest.raises(APIError) as caught:
        verify_internal_token(token, secret, audience=audience)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_internal_credential"


# --- mint / verify --------------------------------------------------------------------


def test_a_minted_token_verifies_to_the_same_user_role_caller_and_request_id():
    user_id = str(uuid.uuid4())
    token = mint_internal_token(
        SECRET,
        issuer="gateway",
        audience="fleet",
        request_id="req-0123456789",
        user_id=user_id,
        role="driver",
    )

    identity = verify_internal_token(token, SECRET, audience="fleet")

    assert identity.user_id == user_id
    assert identity.role == "driver"
    assert identity.caller == "gateway"
    assert identity.request_id == "req-0123456789"
    assert not identity.is_manager
    assert not identity.is_admin


def test_a_service_acting_as_itself_has_no_user_and_no_role():
    token = mint_internal_token(
        SECRET, issuer="media", audience="fleet", request_id="req-0123456789"
    )

    identity = verify_internal_token(token, SECRET, audience="fleet")

    assert (identity.user_id, identity.role, identity.caller) == (None, None, "media")


@pytest.mark.parametrize(
    ("role", "is_manager", "is_admin"),
    [("admin", True, True), ("manager", True, False), ("driver", False, False)],
)
def test_role_helpers(role, is_manager, is_admin):
    token = mint_internal_token(
        SECRET, issuer="gateway", audience="auth", request_id="r" * 10, user_id="u1", role=role
    )

    identity = verify_internal_token(token, SECRET, audience="auth")

    assert (identity.is_manager, identity.is_admin) == (is_manager, is_admin)


def test_a_minted_token_lives_for_its_ttl_only():
    token = mint_internal_token(
        SECRET, issuer="gateway", audience="fleet", request_id="r" * 10, ttl_seconds=30
    )

    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="fleet")

    assert claims["exp"] - claims["iat"] == 30


def test_an_unusable_request_id_in_the_token_is_replaced_by_a_fresh_one():
    token = hand_made_token(valid_claims(rid="bad id with spaces"))

    identity = verify_internal_token(token, SECRET, audience="fleet")

    assert identity.request_id != "bad id with spaces"
    assert is_valid_request_id(identity.request_id)


# --- refusals -------------------------------------------------------------------------


def test_an_expired_token_is_refused():
    token = mint_internal_token(
        SECRET, issuer="gateway", audience="fleet", request_id="r" * 10, ttl_seconds=-10
    )

    assert_refused(token)


def test_a_token_for_another_service_is_refused():
    token = mint_internal_token(SECRET, issuer="gateway", audience="media", request_id="r" * 10)

    assert_refused(token, audience="fleet")


def test_a_token_signed_with_another_secret_is_refused():
    token = mint_internal_token(
        OTHER_SECRET, issuer="gateway", audience="fleet", request_id="r" * 10
    )

    assert_refused(token)


def test_a_token_from_an_unknown_issuer_is_refused():
    token = mint_internal_token(SECRET, issuer="mallory", audience="fleet", request_id="r" * 10)

    assert_refused(token)


@pytest.mark.parametrize("role", ["root", "superuser", "Admin", "", None])
def test_a_user_with_a_role_outside_roles_is_refused(role):
    assert role not in ROLE_NAMES
    token = mint_internal_token(
        SECRET, issuer="gateway", audience="fleet", request_id="r" * 10, user_id="u1", role=role
    )

    assert_refused(token)


def test_a_role_without_a_user_is_refused():
    assert_refused(hand_made_token(valid_claims(sub=..., role="admin")))


def test_alg_none_is_refused():
    assert_refused(hand_made_token(valid_claims(role="admin"), alg="none"))


def test_another_algorithm_is_refused_even_with_the_right_secret():
    assert_refused(hand_made_token(valid_claims(), alg="HS512"))


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "rid"])
def test_a_token_without_a_required_claim_is_refused(missing):
    assert_refused(hand_made_token(valid_claims(**{missing: ...})))


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": ["gateway"]},
        {"iss": {"name": "gateway"}},
        {"iss": 1},
        {"sub": 42},
        {"sub": ""},
        {"role": ["admin"]},
        {"aud": 7},
        {"exp": "tomorrow"},
    ],
    ids=repr,
)
def test_a_signed_token_with_malformed_claims_is_refused_not_crashed(overrides):
    assert_refused(hand_made_token(valid_claims(**overrides)))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "...",
        "eyJhbGciOiJIUzI1NiJ9.eyJ9.x",
        "\x00\xff",
        "Bearer " + "x" * 50,
    ],
    ids=repr,
)
def test_garbage_is_refused(token):
    assert_refused(token)


def test_a_tampered_payload_is_refused():
    token = mint_internal_token(
        SECRET, issuer="gateway", audience="fleet", request_id="r" * 10, user_id="u1", role="driver"
    )
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"

    assert_refused(f"{header}.{b64url(json.dumps(claims).encode())}.{signature}")


# --- on an app ------------------------------------------------------------------------


@pytest.fixture(params=["flask", "apiflask"])
def app(request) -> Flask:
    """A tiny service named "fleet" that requires the internal credential."""
    app = APIFlask(__name__) if request.param == "apiflask" else Flask(__name__)
    register_error_handlers(app)
    init_internal_auth(app, service="fleet", secret=SECRET, open_paths=("/health",))

    @app.get("/health")
    def health():
        return jsonify(status="ok", request_id=g.request_id)

    @app.get("/whoami")
    def whoami():
        identity = current_identity()
        return jsonify(
            user_id=identity.user_id,
            role=identity.role,
            caller=identity.caller,
            request_id=g.request_id,
        )

    # What APIFlask's ``auth_required(user_auth, roles=MANAGERS)`` wraps a view in.
    @app.get("/managers-only")
    @user_auth.login_required(role=MANAGERS)
    def managers_only():
        return jsonify(user_id=current_identity().user_id)

    return app


def credential(audience: str = "fleet", **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("request_id", "req-0123456789")
    token = mint_internal_token(SECRET, issuer="gateway", audience=audience, **kwargs)
    return {INTERNAL_TOKEN_HEADER: token}


def assert_401_json(response, code: str) -> None:
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.get_json()
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details", "request_id"}


def test_a_request_without_the_credential_is_401_json(app):
    response = app.test_client().get("/whoami")

    assert_401_json(response, "internal_credential_required")


def test_forged_identity_headers_without_a_credential_are_401(app):
    response = app.test_client().get(
        "/whoami", headers={"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}
    )

    assert_401_json(response, "internal_credential_required")


def test_forged_identity_headers_beside_a_credential_are_ignored(app):
    headers = {
        **credential(user_id="u1", role="driver"),
        "X-User-Id": "someone-else",
        "X-User-Role": "admin",
    }

    body = app.test_client().get("/whoami", headers=headers).get_json()

    assert (body["user_id"], body["role"]) == ("u1", "driver")


def test_an_invalid_credential_is_401(app):
    response = app.test_client().get("/whoami", headers={INTERNAL_TOKEN_HEADER: "garbage"})

    assert_401_json(response, "invalid_internal_credential")


def test_a_credential_for_another_service_is_401(app):
    response = app.test_client().get("/whoami", headers=credential(audience="media"))

    assert_401_json(response, "invalid_internal_credential")


def test_a_valid_credential_sets_the_identity_and_the_request_id(app):
    response = app.test_client().get(
        "/whoami", headers=credential(user_id="u1", role="manager", request_id="req-abcdef12")
    )

    assert response.status_code == 200
    assert response.get_json() == {
        "user_id": "u1",
        "role": "manager",
        "caller": "gateway",
        "request_id": "req-abcdef12",
    }


def test_the_request_id_of_the_credential_wins_over_the_header(app):
    headers = {**credential(request_id="from-the-token-1"), REQUEST_ID_HEADER: "from-header-123"}

    body = app.test_client().get("/whoami", headers=headers).get_json()

    assert body["request_id"] == "from-the-token-1"


def test_the_401_carries_the_request_id(app):
    response = app.test_client().get("/whoami", headers={REQUEST_ID_HEADER: "client-req-0001"})

    assert response.get_json()["error"]["request_id"] == "client-req-0001"


def test_an_unknown_path_is_401_not_404_so_routes_are_not_revealed(app):
    response = app.test_client().get("/no/such/route")

    assert_401_json(response, "internal_credential_required")


def test_an_open_path_answers_without_a_credential(app):
    response = app.test_client().get("/health")

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_an_open_path_reuses_a_plain_client_request_id(app):
    body = app.test_client().get("/health", headers={REQUEST_ID_HEADER: "probe-1234567"}).json

    assert body["request_id"] == "probe-1234567"


def test_an_open_path_replaces_an_unusable_client_request_id(app):
    body = app.test_client().get("/health", headers={REQUEST_ID_HEADER: "has spaces in it"}).json

    assert body["request_id"] != "has spaces in it"
    assert is_valid_request_id(body["request_id"])


def test_a_route_for_users_refuses_a_service_acting_as_itself_with_403(app):
    response = app.test_client().get("/managers-only", headers=credential())

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "user_required"


def test_a_route_for_managers_refuses_a_driver_with_403(app):
    response = app.test_client().get(
        "/managers-only", headers=credential(user_id="u1", role="driver")
    )

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_a_route_for_managers_admits_an_admin(app):
    response = app.test_client().get(
        "/managers-only", headers=credential(user_id="u1", role="admin")
    )

    assert response.status_code == 200


# --- on a real service ----------------------------------------------------------------


def test_the_fleet_service_refuses_a_request_that_bypasses_the_gateway(fleet_app):
    response = fleet_app.test_client().get(
        "/api/v1/fleet/vehicles", headers={"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}
    )

    assert_401_json(response, "internal_credential_required")


def test_the_auth_service_refuses_a_credential_minted_for_fleet(auth_app, settings):
    token = mint_internal_token(
        settings.internal_secret_key, issuer="gateway", audience="fleet", request_id="r" * 10
    )

    response = auth_app.test_client().get("/openapi.json", headers={INTERNAL_TOKEN_HEADER: token})

    assert_401_json(response, "invalid_internal_credential")


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_service_probes_answer_without_a_credential(fleet_app, path):
    response = fleet_app.test_client().get(path)

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_a_service_echoes_the_credential_request_id_in_its_response(fleet_app, settings):
    token = mint_internal_token(
        settings.internal_secret_key,
        issuer="gateway",
        audience="fleet",
        request_id="req-echo-000001",
    )

    response = fleet_app.test_client().get("/openapi.json", headers={INTERNAL_TOKEN_HEADER: token})

    assert response.status_code == 200
    assert response.headers[REQUEST_ID_HEADER] == "req-echo-000001"
