"""Per-address limits key an IPv6 client by its /64: one allocation is one client."""

from __future__ import annotations

import pytest

from shared.addresses import limit_key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("", ""),
        ("not-an-address", "not-an-address"),
    ],
)
def test_limit_key(address, key):
    assert limit_key(address) == key
