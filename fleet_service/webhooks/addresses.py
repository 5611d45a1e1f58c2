"""Where a webhook may send: https to public addresses only, checked on save and on delivery.

A webhook URL is the caller's to choose, and the worker POSTs to it from inside
our network: left unchecked it would reach the database, the metadata service of
the cloud (169.254.169.254) or anything else only our machines can. So the host
must resolve to global unicast addresses and nothing else, and the delivery
connects to the very address it vetted: a name that resolves to a public
address when checked and to a private one a moment later (DNS rebinding) cannot
slip between the two. ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` lifts both rules, and
allows plain http, for tests and receivers on the premises.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"https": 443, "http": 80}
# Carrier-grade NAT (RFC 6598): neither private nor global to the ipaddress module.
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class RefusedAddress(Exception):
    """The URL may not be sent to; the message says why (for the caller and the log)."""


@dataclass(frozen=True)
class Target:
    """A vetted destination: what to connect to, and what to call it there."""

    scheme: str
    hostname: str
    port: int
    # The path and query the request asks for ("/" at least).
    path: str
    # The Host header: the name as the URL gives it, with a port other than the scheme's.
    host_header: str
    # The address the check found, and the only one connected to.
    address: str = ""


def _is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:10.0.0.1 is 10.0.0.1 to a dual-stack socket.
        return _is_public(ip.ipv4_mapped)
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return False
    # 6to4 tunnels its packets to the IPv4 address it embeds.
    inner = ip.sixtofour if isinstance(ip, ipaddress.IPv6Address) else None
    return inner is None or _is_public(inner)


def _kind(ip: IPAddress) -> str:
    """What kind of non-public address ``ip`` is, in the words of a refusal."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _kind(ip.ipv4_mapped)
    for kind, flag in (
        ("an unspecified", ip.is_unspecified),
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a carrier-grade NAT", ip in SHARED_ADDRESS_SPACE),
    ):
        if flag:
            return kind
    return "a non-public"


def _split(url: str, *, allow_private: bool) -> Target:
    """The URL's parts, refused when it is not an absolute http(s) URL we may use."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedAddress(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise RefusedAddress("must be an https URL")
    if not parts.hostname:
        raise RefusedAddress("must name a host")
    if port == 0:
        raise RefusedAddress("must not name port 0")
    if parts.username is not None or parts.password is not None:
        # They would be sent nowhere (we sign instead) and end up in logs.
        raise RefusedAddress("must not carry a user name or password")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    path = parts.path or "/"
    return Target(
        scheme=scheme,
        hostname=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        path=f"{path}?{parts.query}" if parts.query else path,
        host_header=host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}",
    )


def _resolve(hostname: str, port: int) -> list[IPAddress]:
    try:
        found = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise RefusedAddress(f"the host {hostname} does not resolve") from None
    # An IPv6 address with a zone ("fe80::1%eth0") is link-local: drop the zone to judge it.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


def vet(url: str, *, allow_private: bool) -> Target:
    """Where ``url`` goes, resolved now; refused unless every address it resolves to is public.

    Raises :class:`RefusedAddress` saying why. With ``allow_private`` any
    address (and plain http) will do.
    """
    target = _split(url, allow_private=allow_private)
    addresses = _resolve(target.hostname, target.port)
    if not allow_private:
        for ip in addresses:
            if not _is_public(ip):
                raise RefusedAddress(f"the host resolves to {ip}, {_kind(ip)} address")
    return dataclasses.replace(target, address=str(addresses[0]))
