"""An IPv6 client cannot dodge per-address limits by walking its own /64."""

from __future__ import annotations

VEHICLES = "/api/v1/fleet/vehicles"


def test_addresses_of_one_ipv6_64_share_the_anonymous_limit(make_gateway):
    client = make_gateway(RATE_LIMIT_DEFAULT="3/minute").test_client()
    walked = [
        client.get(VEHICLES, environ_base={"REMOTE_ADDR": f"2001:db8:7:7::{n}"}).status_code
        for n in range(1, 5)
    ]
    assert walked == [401, 401, 401, 429]
    neighbour = client.get(VEHICLES, environ_base={"REMOTE_ADDR": "2001:db8:7:8::1"})
    assert neighbour.status_code == 401
