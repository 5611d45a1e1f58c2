"""No path spelling makes any process answer a redirect, and nothing a client gets
back names an internal host or port."""

from __future__ import annotations

import uuid

import pytest

from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from tests.security.conftest import PARTS
from tests.support.rawhttp import exchange

# Paths werkzeug's router would answer 308 (merged slashes, a missing trailing
# slash), through the gateway and at each service's own port.
PATHS = [
    "/api/v1//fleet/vehicles",
    "/api/v1/fleet//vehicles",
    "/api/v1/fleet/vehicles//",
    "/api//v1/auth/login",
    "/health//",
    "//ready",
    "/api/v1/media//files",
]


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("path", PATHS)
def test_no_path_is_answered_with_a_redirect_naming_an_internal_address(logged_stack, part, path):
    port = logged_stack.settings.port_of(part)
    internal = f"fleet.internal:{port}"
    credential = ""
    if part != "gateway":
        # As the gateway calls a service: past the credential check, to the router.
        token = mint_internal_token(
            logged_stack.settings.internal_secret_key,
            issuer="gateway",
            audience=part,
            request_id=uuid.uuid4().hex,
            user_id=str(uuid.uuid4()),
            role="admin",
        )
        credential = f"{INTERNAL_TOKEN_HEADER}: {token}\r\n"
    request = f"GET {path} HTTP/1.1\r\nHost: {internal}\r\n{credential}Connection: close\r\n\r\n"

    response = exchange(port, request.encode())

    assert not 300 <= response.status < 400, (response.status, response.headers)
    assert "location" not in response.headers
    assert internal not in response.body.decode(errors="replace")
    assert str(port) not in "".join(response.headers.values()) + response.body.decode(
        errors="replace"
    )
    if response.status >= 400:
        assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/livez",
        "/api/v1/openapi.json",
        "/api/docs",
        "/api/v1/nowhere",
        "/api/v1/fleet/vehicles",
    ],
)
def test_what_the_gateway_answers_names_no_service_address(logged_stack, path):
    request = f"GET {path} HTTP/1.1\r\nHost: frota.example\r\nConnection: close\r\n\r\n"

    response = exchange(logged_stack.settings.gateway_port, request.encode())

    answer = "".join(f"{k}: {v}\n" for k, v in response.headers.items()) + response.body.decode(
        errors="replace"
    )
    for part in ("auth", "fleet", "media"):
        assert f":{logged_stack.settings.port_of(part)}" not in answer, (part, answer[:300])
    assert "127.0.0.1" not in answer
