"""The gateway serves the web console at every path outside /api and its own, as a plain
upstream: nothing under /api reaches it, it gets no internal credential, the browser's
claimed address and scheme are replaced by the gateway's, and its pages, cookies,
redirects and HTML errors reach the browser as it wrote them."""

from __future__ import annotations

import pytest

from shared.internal_auth import INTERNAL_TOKEN_HEADER
from tests.gateway.conftest import GatewayFactory, Upstream, access_token, bearer


@pytest.fixture
def console_gateway(make_gateway: GatewayFactory, upstream: Upstream):
    # Every service elsewhere (nothing listens there): only the console is the upstream.
    dead = "http://127.0.0.1:9"
    return make_gateway(WEB_URL=upstream.url, AUTH_URL=dead, FLEET_URL=dead, MEDIA_URL=dead)


def test_a_console_page_is_forwarded_with_the_cookie_and_the_gateways_view_of_the_client(
    console_gateway, upstream
):
    client = console_gateway.test_client()
    client.set_cookie("frota_session", "signed-session-value")

    response = client.get(
        "/vehicles?q=abc",
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "Accept-Language": "en",
        },
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )

    assert response.status_code == 200
    received = upstream.only()
    assert received.target == "/vehicles?q=abc"
    assert received.header("Cookie") == "frota_session=signed-session-value"
    assert received.header("Accept-Language") == "en"
    # Not trusted, so neither the claimed address nor the claimed scheme is believed.
    assert received.headers_named("X-Forwarded-For") == ["203.0.113.7"]
    assert received.headers_named("X-Forwarded-Proto") == ["http"]
    assert received.header("X-Request-ID") == response.headers["X-Request-ID"]


def test_the_console_gets_no_internal_credential_even_for_a_signed_in_client(
    console_gateway, upstream
):
    token = access_token(console_gateway)
    console_gateway.test_client().get("/", headers=bearer(token))

    received = upstream.only()
    assert INTERNAL_TOKEN_HEADER.lower() not in received.header_names
    # The browser's own header passes as it came: the console ignores it, and no
    # identity was vouched for by the gateway.
    assert received.header("Authorization") == f"Bearer {token}"


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/v1/nothing", "/api/v9/login"])
def test_nothing_under_api_ever_reaches_the_console(console_gateway, upstream, path):
    response = console_gateway.test_client().get(path)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert upstream.received == []


def test_the_consoles_redirects_and_error_pages_are_relayed_as_written(console_gateway, upstream):
    client = console_gateway.test_client()

    redirected = client.get("/status/302")
    assert redirected.status_code == 302
    assert redirected.headers["Location"] == "/somewhere/else"
    # A console error stays the console's (an HTML page in the real one), not the API's JSON.
    missing = client.get("/status/404")
    assert missing.status_code == 404
    assert missing.get_json() == {"upstream_status": 404}
    assert missing.headers["X-Upstream"] == "echo"


def test_a_console_that_does_not_answer_is_a_502(make_gateway, upstream):
    app = make_gateway(WEB_URL="http://127.0.0.1:9")

    response = app.test_client().get("/login")

    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "upstream_error"


@pytest.mark.parametrize("path", ["/", "/login", "/static/app.css", "/vehicles/new", "/health-x"])
def test_every_path_outside_api_and_the_gateways_own_is_the_consoles(
    console_gateway, upstream, path
):
    # Even /static/: the gateway has no static route of its own to shadow the console's.
    response = console_gateway.test_client().get(path)

    assert response.status_code == 200
    assert upstream.only().target == path
