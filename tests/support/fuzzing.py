"""Hypothesis set up for fuzzing a service: the same examples on every run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, seed, settings

Test = TypeVar("Test", bound=Callable[..., None])


def repeatable(fixed_seed: int, examples: int) -> Callable[[Test], Test]:
    """Explore ``examples`` cases from ``fixed_seed``, with no deadline and no example
    database: a run is repeatable and takes a known time. Apply it above ``@given``."""

    def apply(test: Test) -> Test:
        explored = settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(test)
        return seed(fixed_seed)(explored)

    return apply
