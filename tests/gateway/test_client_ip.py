"""Which address a request comes from.

Forwarded-address headers are the client's say-so unless the connecting peer is
one of ``TRUSTED_PROXIES``; only then are they believed, and then only as far as
the chain of trusted hops reaches.
"""

from __future__ import annotations

import pytest

from gateway.client_ip import client_ip, parse_networks
from tests.gateway.conftest import access_token, bearer

TRUSTED = parse_networks(["10.0.0.0/8", "173.245.48.0/20", "2400:cb00::/32"])
PROXY = "10.0.0.1"
CLOUDFLARE = "173.245.48.9"
CLIENT = "198.51.100.7"
SPOOFED = "6.6.6.6"


# --- an untrusted peer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"CF-Connecting-IP": SPOOFED},
        {"X-Forwarded-For": SPOOFED},
        {"CF-Connecting-IP": SPOOFED, "X-Forwarded-For": f"{SPOOFED}, {PROXY}"},
    ],
)
def test_an_untrusted_peer_is_the_client_whatever_its_headers_say(headers):
    assert client_ip(CLIENT, headers, TRUSTED) == CLIENT


def test_with_no_trusted_proxies_configured_every_peer_is_the_client():
    headers = {"CF-Connecting-IP": SPOOFED, "X-Forwarded-For": SPOOFED}
    assert client_ip(PROXY, headers, ()) == PROXY


def test_a_peer_that_is_no_address_is_returned_as_it_is():
    assert client_ip("", {"CF-Connecting-IP": SPOOFED}, TRUSTED) == ""


# --- a trusted peer ------------------------------------------------------------------------


def test_cf_connecting_ip_from_a_trusted_peer_wins_over_x_forwarded_for():
    headers = {"CF-Connecting-IP": CLIENT, "X-Forwarded-For": f"{SPOOFED}, {PROXY}"}
    assert client_ip(CLOUDFLARE, headers, TRUSTED) == CLIENT


def test_cf_connecting_ip_is_returned_in_canonical_form():
    headers = {"CF-Connecting-IP": " 2001:DB8:0000::7 "}
    assert client_ip(CLOUDFLARE, headers, TRUSTED) == "2001:db8::7"


@pytest.mark.parametrize("bad", ["not-an-ip", "198.51.100.7:443", "300.1.1.1", ""])
def test_an_invalid_cf_connecting_ip_is_ignored_in_favour_of_x_forwarded_for(bad):
    headers = {"CF-Connecting-IP": bad, "X-Forwarded-For": CLIENT}
    assert client_ip(CLOUDFLARE, headers, TRUSTED) == CLIENT


def test_x_forwarded_for_gives_the_right_most_address_that_is_not_a_trusted_proxy():
    # The client wrote SPOOFED itself; our proxies appended CLIENT, then themselves.
    headers = {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}, 10.0.0.2, 10.0.0.3"}
    assert client_ip(PROXY, headers, TRUSTED) == CLIENT


def test_x_forwarded_for_entries_may_be_spaced_and_ipv6():
    headers = {"X-Forwarded-For": " 2001:db8::7 ,10.0.0.2 "}
    assert client_ip("2400:cb00::1", headers, TRUSTED) == "2001:db8::7"


@pytest.mark.parametrize(
    "forwarded",
    [
        "garbage",
        f"{CLIENT}, garbage",
        f"{CLIENT}, unknown, 10.0.0.2",
        f"{CLIENT}, {CLIENT}:443",
    ],
)
def test_a_malformed_hop_is_never_the_answer_and_nothing_left_of_it_is_believed(forwarded):
    assert client_ip(PROXY, {"X-Forwarded-For": forwarded}, TRUSTED) == PROXY


def test_without_forwarded_headers_a_trusted_peer_is_the_client():
    assert client_ip(PROXY, {}, TRUSTED) == PROXY


# --- what the service is told, through the gateway -----------------------------------------


def test_the_gateway_tells_the_service_the_peer_when_it_is_not_trusted(
    client, gateway_app, upstream
):
    headers = {
        "CF-Connecting-IP": SPOOFED,
        "X-Forwarded-For": SPOOFED,
        "X-Real-IP": SPOOFED,
        "Forwarded": f"for={SPOOFED}",
        **bearer(access_token(gateway_app)),
    }
    client.get("/api/v1/fleet/vehicles", headers=headers, environ_base={"REMOTE_ADDR": CLIENT})
    seen = upstream.only()
    assert seen.headers_named("X-Forwarded-For") == [CLIENT]
    assert seen.header("X-Real-IP") is None
    assert seen.header("Forwarded") is None


def test_the_gateway_tells_the_service_the_client_behind_a_trusted_proxy(make_gateway, upstream):
    app = make_gateway(TRUSTED_PROXIES="10.0.0.0/8, 173.245.48.0/20")
    headers = {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}", **bearer(access_token(app))}
    app.test_client().get(
        "/api/v1/fleet/vehicles", headers=headers, environ_base={"REMOTE_ADDR": PROXY}
    )
    assert upstream.only().headers_named("X-Forwarded-For") == [CLIENT]
