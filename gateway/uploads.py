"""How many uploads a gateway worker lets through to a service at once.

An upload streams: while it lasts, it holds one thread of the media service, and a
client that stalls or trickles decides how long. The media service has
``WEB_CONCURRENCY x 4`` threads (gthread); the gateway has ``WEB_CONCURRENCY`` workers,
each letting at most ``MAX_UPLOADS_IN_FLIGHT`` uploads through. With the default of 2
and the same ``WEB_CONCURRENCY`` on both sides, uploads hold at most 2 of every 4 media
threads: half are always left for downloads, listings and the quota. (Scale the two
together; a gateway with more workers than the media service needs a lower bound.)

Within that, one user holds at most ``MAX_UPLOADS_IN_FLIGHT_PER_USER`` slots, so one
account stalling uploads on purpose cannot keep every other user from uploading.

Over the bound the answer is 503 ``too_many_uploads`` with ``Retry-After`` at once:
a queue would only move the wait to where a stalled client decides its length.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from shared.errors import APIError

RETRY_AFTER_SECONDS = 5


class UploadSlots:
    """Counts the uploads this worker has in flight, per service and per user."""

    def __init__(self, *, per_service: int, per_user: int) -> None:
        self.per_service = per_service
        self.per_user = per_user
        self.lock = threading.Lock()
        self.by_service: Counter[str] = Counter()
        self.by_user: Counter[tuple[str, str]] = Counter()

    @contextmanager
    def hold(self, service: str, user_id: str | None) -> Iterator[None]:
        """One slot for the duration of the ``with`` block, or 503 when there is none."""
        user_key = (service, user_id or "")
        with self.lock:
            if (
                self.by_service[service] >= self.per_service
                or self.by_user[user_key] >= self.per_user
            ):
                raise APIError(
                    503,
                    "too_many_uploads",
                    "Too many uploads are in progress; retry shortly",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            self.by_service[service] += 1
            self.by_user[user_key] += 1
        try:
            yield
        finally:
            with self.lock:
                self.by_service[service] -= 1
                self.by_user[user_key] -= 1
                if not self.by_user[user_key]:
                    del self.by_user[user_key]
