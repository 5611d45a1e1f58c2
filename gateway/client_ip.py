"""Which address a request really comes from.

Forwarded client-IP headers are believed only when the connecting peer is one
of ``TRUSTED_PROXIES`` (e.g. Cloudflare's ranges, or the load balancer);
otherwise anyone could pick their own rate-limit key by sending a header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Headers(Protocol):
    """What is read of the request headers: werkzeug's Headers, or a plain dict in tests."""

    def get(self, key: str, default: str, /) -> str: ...


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(peer: str, headers: Headers, trusted: tuple[Network, ...]) -> str:
    """The client's address: from the headers when ``peer`` is trusted, else ``peer``."""
    if not trusted or not is_trusted(peer, trusted):
        return peer
    cf = _valid(headers.get("CF-Connecting-IP", ""))
    if cf:
        return cf
    forwarded = [h.strip() for h in headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    # Walk from the right: each entry was appended by the hop before; the first
    # address that is not one of our proxies is the client.
    for entry in reversed(forwarded):
        address = _valid(entry)
        if address is None:
            break
        if not is_trusted(address, trusted):
            return address
    return peer
