"""Who may prune when: one prune at a time, across every process.

The media worker's scheduled prune (:mod:`media_service.jobs`) and
``frota media prune`` take a PostgreSQL advisory lock first, and a backup
takes the same lock to hold pruning off while it copies the volume. What a
prune deletes is :mod:`media_service.pruning`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from media_service.pruning import PruneResult, prune_media
from media_service.storage import LocalStorage
from shared.db import Database

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
    """One prune under the lock; None when another process holds it (pruning or backing up)."""
    with prune_lock(database.engine) as acquired:
        if not acquired:
            return None
        with database.sessionmaker() as db_session:
            return prune_media(db_session=db_session, storage=storage, quota_bytes=quota_bytes)
