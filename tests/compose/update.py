"""How long clients go without an answer while the stack is updated to a new image."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import requests

from tests.compose.stack import Compose

POLL_EVERY_SECONDS = 0.1
AFTER_UPDATE_SECONDS = 5  # polling goes on this long after the update's commands return


@dataclass
class Outage:
    seconds: float  # the time during which some poller got no 2xx answer
    update_seconds: float  # how long the update's commands took
    failures: Counter[str]  # failed answers by kind: "503", "refused", "timeout"...

    def __str__(self) -> str:
        kinds = ", ".join(f"{n} x {kind}" for kind, n in sorted(self.failures.items()))
        return (
            f"{self.seconds:.1f} s without a 2xx answer during a {self.update_seconds:.1f} s "
            f"update ({kinds or 'no failed request'})"
        )


def measure_update(stack: Compose, token: str, update: Callable[[], object]) -> Outage:
    """Run ``update`` while clients poll /health and the vehicle list."""
    routes = {
        "/health": {},
        "/api/v1/fleet/vehicles": {"Authorization": f"Bearer {token}"},
    }
    samples: list[tuple[float, str, str | None]] = []  # (time sent, route, failure or None)
    stop = threading.Event()

    def poll(path: str, headers: dict[str, str]) -> None:
        while not stop.is_set():
            sent = time.monotonic()
            samples.append((sent, path, _failure(f"{stack.url}{path}", headers)))
            stop.wait(max(0.0, POLL_EVERY_SECONDS - (time.monotonic() - sent)))

    pollers = [threading.Thread(target=poll, args=item) for item in routes.items()]
    for poller in pollers:
        poller.start()
    try:
        started = time.monotonic()
        update()
        update_seconds = time.monotonic() - started
        time.sleep(AFTER_UPDATE_SECONDS)
    finally:
        stop.set()
        for poller in pollers:
            poller.join(timeout=10)
    samples.sort()
    failures = Counter(failure for _, _, failure in samples if failure)
    return Outage(seconds_without_answer(samples, routes), update_seconds, failures)


def _failure(url: str, headers: dict[str, str]) -> str | None:
    """None for a 2xx answer, else what went wrong; a new connection each time (a new client)."""
    try:
        response = requests.get(url, headers=headers, timeout=2)
    except requests.ConnectionError:
        return "refused"
    except requests.Timeout:
        return "timeout"
    return None if 200 <= response.status_code < 300 else str(response.status_code)


def seconds_without_answer(
    samples: list[tuple[float, str, str | None]], routes: dict[str, dict[str, str]]
) -> float:
    """Time from each route's first failed request to its next success, merged over routes."""
    spans: list[tuple[float, float]] = []
    for route in routes:
        outage_start = None
        for sent, path, failure in samples:
            if path != route:
                continue
            if failure and outage_start is None:
                outage_start = sent
            elif not failure and outage_start is not None:
                spans.append((outage_start, sent))
                outage_start = None
        assert outage_start is None, f"{route} still failing when the measurement ended"
    total, covered_until = 0.0, float("-inf")
    for start, end in sorted(spans):
        start = max(start, covered_until)
        if end > start:
            total += end - start
            covered_until = end
    return total
