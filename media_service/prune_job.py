"""When pruning runs: one prune at a time, and the periodic job of every worker.

One prune runs at a time across every worker and process: the periodic job
and ``frota media prune`` take a PostgreSQL advisory lock first, and a backup
takes the same lock to hold pruning off while it copies the volume. What a
prune deletes is :mod:`media_service.pruning`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa

from media_service.pruning import PruneResult, prune_media
from media_service.storage import LocalStorage
from shared.db import Database

# The name the retention jobs have always logged under, so log filters keep working.
logger = logging.getLogger("frota.media.retention")

# pg_try_advisory_lock key of the prune runner: "media" in ASCII, as a bigint.
PRUNE_LOCK_KEY = 0x6D65646961


@contextmanager
def prune_lock(engine: sa.Engine) -> Iterator[bool]:
    """Hold the one-runner-at-a-time prune lock for the block, if nobody else holds it.

    The lock belongs to a connection of its own: if the process dies, PostgreSQL
    drops the connection and the lock with it.
    """
    with engine.connect() as conn:
        acquired = bool(conn.scalar(sa.select(sa.func.pg_try_advisory_lock(PRUNE_LOCK_KEY))))
        # Session-level lock: it outlives this transaction, which must not stay open.
        conn.commit()
        try:
            yield acquired
        finally:
            if acquired:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(PRUNE_LOCK_KEY)))
                conn.commit()


def run_scheduled_prune(
    *, database: Database, storage: LocalStorage, quota_bytes: int
) -> PruneResult | None:
    """One run of the periodic job; None when another worker or process is pruning."""
    with prune_lock(database.engine) as acquired:
        if not acquired:
            return None
        with database.sessionmaker() as db_session:
            return prune_media(db_session=db_session, storage=storage, quota_bytes=quota_bytes)


class PeriodicPrune:
    """Prunes every ``every`` in a daemon thread of this process, until stopped.

    Every gunicorn worker runs one; the advisory lock lets only one of them
    prune at a time, and the others skip that round. Rounds fall on multiples
    of ``every`` since the epoch (the top of the hour, for an hour), not
    ``every`` after the worker started: gunicorn recycles workers after a
    number of requests, and under load none might live a whole hour.
    """

    def __init__(
        self, *, database: Database, storage: LocalStorage, quota_bytes: int, every: timedelta
    ) -> None:
        self.database = database
        self.storage = storage
        self.quota_bytes = quota_bytes
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="media-prune", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        period = self.every.total_seconds()
        while not self._stop.wait(period - time.time() % period):
            try:
                run_scheduled_prune(
                    database=self.database, storage=self.storage, quota_bytes=self.quota_bytes
                )
            except Exception:
                # The next round tries again; one failed round must not end the job.
                logger.exception("scheduled media prune failed")
