"""Rate-limit keys behind proxies, security headers and CORS, in-process against real Redis."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import access_token, bearer

VEHICLES = "/api/v1/fleet/vehicles"
PROXY = "10.0.0.1"


def statuses(client, count, **kwargs):
    return [client.get(VEHICLES, **kwargs).status_code for _ in range(count)]


def test_anonymous_requests_are_limited_per_client_ip(make_gateway):
    app = make_gateway(RATE_LIMIT_DEFAULT="3/minute")
    client = app.test_client()
    assert statuses(client, 4, environ_base={"REMOTE_ADDR": "192.0.2.10"}) == [401, 401, 401, 429]
    assert statuses(client, 1, environ_base={"REMOTE_ADDR": "192.0.2.11"}) == [401]


def test_from_a_trusted_proxy_cf_connecting_ip_decides_the_key(make_gateway):
    app = make_gateway(RATE_LIMIT_DEFAULT="3/minute", TRUSTED_PROXIES=f"{PROXY}/32")
    client = app.test_client()
    via_proxy = {"environ_base": {"REMOTE_ADDR": PROXY}}
    first = statuses(client, 4, headers={"CF-Connecting-IP": "198.51.100.1"}, **via_proxy)
    assert first == [401, 401, 401, 429]
    # Another client behind the same proxy has a budget of its own.
    assert (
        statuses(client, 3, headers={"CF-Connecting-IP": "198.51.100.2"}, **via_proxy) == [401] * 3
    )


def test_from_an_untrusted_peer_cf_connecting_ip_changes_nothing(make_gateway):
    app = make_gateway(RATE_LIMIT_DEFAULT="3/minute", TRUSTED_PROXIES=f"{PROXY}/32")
    client = app.test_client()
    codes = [
        client.get(
            VEHICLES,
            headers={"CF-Connecting-IP": f"198.51.100.{n}"},
            environ_base={"REMOTE_ADDR": "192.0.2.50"},
        ).status_code
        for n in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_authenticated_requests_are_limited_per_user_not_per_ip(make_gateway):
    app = make_gateway(RATE_LIMIT_DEFAULT="2/minute")
    client = app.test_client()
    depot = {"environ_base": {"REMOTE_ADDR": "192.0.2.99"}}
    alice, bob = access_token(app), access_token(app)
    assert statuses(client, 3, headers=bearer(alice), **depot) == [200, 200, 429]
    assert statuses(client, 2, headers=bearer(bob), **depot) == [200, 200]


def test_security_headers_and_hsts_only_over_https_from_a_trusted_proxy(make_gateway):
    app = make_gateway(TRUSTED_PROXIES=f"{PROXY}/32")
    client = app.test_client()
    plain = client.get("/livez")
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    assert plain.headers["X-Frame-Options"] == "DENY"
    assert plain.headers["Referrer-Policy"] == "no-referrer"
    assert plain.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "Strict-Transport-Security" not in plain.headers
    https = {"X-Forwarded-Proto": "https"}
    spoofed = client.get("/livez", headers=https, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert "Strict-Transport-Security" not in spoofed.headers
    trusted = client.get("/livez", headers=https, environ_base={"REMOTE_ADDR": PROXY})
    assert trusted.headers["Strict-Transport-Security"].startswith("max-age=")
    cloudflare = client.get(
        "/livez", headers={"CF-Visitor": '{"scheme":"https"}'}, environ_base={"REMOTE_ADDR": PROXY}
    )
    assert "Strict-Transport-Security" in cloudflare.headers


@pytest.mark.parametrize(
    "visitor", ["[" * 100_000, '{"scheme": "\\ud800"}', "not json", '"https"', "1e999"]
)
def test_a_hostile_cf_visitor_header_from_a_trusted_proxy_is_plain_http(make_gateway, visitor):
    client = make_gateway(TRUSTED_PROXIES=f"{PROXY}/32").test_client()
    answer = client.get(
        "/livez", headers={"CF-Visitor": visitor}, environ_base={"REMOTE_ADDR": PROXY}
    )
    assert answer.status_code == 200
    assert "Strict-Transport-Security" not in answer.headers


def test_cors_allows_only_listed_origins(make_gateway, upstream):
    app = make_gateway(CORS_ORIGINS="https://app.example.com")
    client = app.test_client()
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options(VEHICLES, headers={"Origin": "https://app.example.com", **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    refused = client.options(VEHICLES, headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert upstream.received == []  # preflights never reach a service
    actual = client.get(
        VEHICLES, headers={"Origin": "https://app.example.com", **bearer(access_token(app))}
    )
    assert actual.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "RateLimit-Remaining" in actual.headers["Access-Control-Expose-Headers"]
    # A browser client pages a CSV export by this header.
    assert "X-Next-Cursor" in actual.headers["Access-Control-Expose-Headers"]


def test_successful_responses_carry_rate_limit_headers(make_gateway):
    app = make_gateway(RATE_LIMIT_DEFAULT="5/minute")
    response = app.test_client().get(VEHICLES, headers=bearer(access_token(app)))
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "5"
    assert response.headers["RateLimit-Remaining"] == "4"
    assert 0 < int(response.headers["RateLimit-Reset"]) <= 60
