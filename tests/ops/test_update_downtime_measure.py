"""The downtime figure of make test-compose: from a route's first failure to its next answer."""

from __future__ import annotations

import pytest

from tests.compose.update import seconds_without_answer

ROUTES: dict[str, dict[str, str]] = {"/health": {}, "/api/v1/fleet/vehicles": {}}


def test_overlapping_outages_of_two_routes_count_once():
    samples = [
        (0.0, "/health", None),
        (1.0, "/health", "503"),
        (1.5, "/api/v1/fleet/vehicles", "refused"),
        (3.0, "/health", None),
        (4.0, "/api/v1/fleet/vehicles", None),
        (10.0, "/health", "refused"),
        (11.0, "/health", None),
    ]

    assert seconds_without_answer(samples, ROUTES) == pytest.approx(3.0 + 1.0)


def test_a_route_still_failing_at_the_end_is_no_figure():
    samples = [(0.0, "/health", None), (1.0, "/health", "502")]

    with pytest.raises(AssertionError, match="still failing"):
        seconds_without_answer(samples, ROUTES)
