"""Which client addresses count as one client for rate limits and login lockouts."""

from __future__ import annotations

import ipaddress

# An IPv6 subscriber or server is normally given a whole /64 (often more):
# keyed by full address, one attacker would be 2**64 clients.
IPV6_CLIENT_PREFIX = 64


def limit_key(address: str) -> str:
    """The form of ``address`` that per-address limits are keyed by.

    An IPv4 address as it is; an IPv6 address as its /64 network; an IPv4
    address mapped into IPv6 (``::ffff:192.0.2.1``) as the IPv4 address.
    Anything that is not an address is returned unchanged.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)
