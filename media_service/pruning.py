"""Pruning: deleting unheld files past retention, and the oldest over the high-water mark.

Prune deletes, in batches, unheld files past their expiry (or older than a
given age), then — while the volume is above its high-water mark — the oldest
unheld files until it is under the low-water mark. Each batch follows the
order of :func:`media_service.service.finish_deletions`: mark the rows and
commit, unlink the files, delete the rows and commit. Killed at any point, it
leaves marked rows (invisible to the API) that the next run finishes first;
no visible row ever points at a missing file.

A dry run walks the same rows in the same order and changes nothing. Who may
prune when (one run at a time, the periodic job) is :mod:`media_service.prune_job`.
"""

from __future__ import annotations

import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.models import MediaFile, VolumeUsage
from media_service.quota import USAGE_ROW, current_usage, release_stale_reservations
from media_service.service import finish_deletions
from media_service.storage import LocalStorage
from shared.pagination import OrderColumn, keyset_batches

# The name the retention jobs have always logged under, so log filters keep working.
logger = logging.getLogger("frota.media.retention")

BATCH_SIZE = 500
HIGH_WATER = 0.90
LOW_WATER = 0.80

# Why a file goes: a deletion a crashed run left unfinished, its age, or the high-water mark.
UNFINISHED, EXPIRED, HIGH_WATER_MARK = "unfinished", "expired", "high_water"

# Called for each file a dry run would delete: id, size, reason.
FileReporter = Callable[[uuid.UUID, int, str], None]
# The files a prune may take, and one of them: id and size (and the sort key after them).
_CandidateQuery = sa.Select[uuid.UUID, int]
_Candidate = sa.Row[*tuple[Any, ...]]


@dataclass
class PruneResult:
    dry_run: bool
    files: int = 0
    bytes_freed: int = 0
    seconds: float = 0.0
    by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0

    def add(self, files: int, nbytes: int, reason: str) -> None:
        self.files += files
        self.bytes_freed += nbytes
        self.by_reason[reason] += files

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.by_reason.items()))
        return (
            f"prune {verb} {self.files} files ({reasons or 'none'}), "
            f"{self.bytes_freed} bytes, in {self.seconds:.2f} s "
            f"({self.files_per_second:.0f} files/s)"
        )


def prune_media(
    *,
    db_session: Session,
    storage: LocalStorage,
    quota_bytes: int,
    older_than_days: int | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    high_water: float = HIGH_WATER,
    low_water: float = LOW_WATER,
    report: FileReporter | None = None,
) -> PruneResult:
    """Delete unheld files past retention (or older than ``older_than_days``), file and row.

    Then, while the volume is above ``high_water`` * quota, the oldest unheld
    files go until it is under ``low_water`` * quota. A dry run changes nothing
    and tells ``report`` about each file that would go. Memory stays flat: at
    most ``batch_size`` rows are in hand at a time.
    """
    started = time.perf_counter()
    now = datetime.now(UTC)
    live_unheld = sa.and_(MediaFile.deleting_at.is_(None), sa.not_(MediaFile.held))
    if older_than_days is None:
        expired = sa.and_(live_unheld, MediaFile.expires_at < now)
        expiry_order = MediaFile.expires_at
    else:
        expired = sa.and_(live_unheld, MediaFile.created_at < now - timedelta(older_than_days))
        expiry_order = MediaFile.created_at
    result = PruneResult(dry_run=dry_run)
    run = _DryRun(db_session, result, report) if dry_run else _Deletion(db_session, storage, result)

    if not dry_run:
        release_stale_reservations(db_session=db_session)
    run.take(MediaFile.deleting_at.is_not(None), MediaFile.deleting_at, UNFINISHED, batch_size)
    run.take(expired, expiry_order, EXPIRED, batch_size)
    used = current_usage(db_session=db_session).used_bytes - run.still_counted_bytes
    if used > high_water * quota_bytes:
        # A dry run must not count twice what it already plans to delete as expired.
        oldest = sa.and_(live_unheld, sa.not_(expired)) if dry_run else live_unheld
        excess = used - int(low_water * quota_bytes)
        run.take(oldest, MediaFile.created_at, HIGH_WATER_MARK, batch_size, bytes_wanted=excess)

    result.seconds = time.perf_counter() - started
    if not dry_run:
        record_prune(db_session=db_session, result=result)
    logger.info(result.summary())
    return result


def record_prune(*, db_session: Session, result: PruneResult) -> None:
    """Write down, on the usage row, that a prune ran to the end and what it deleted."""
    db_session.execute(
        sa.update(VolumeUsage)
        .where(VolumeUsage.id == USAGE_ROW)
        .values(
            last_pruned_at=sa.func.clock_timestamp(),
            last_prune_files=result.files,
            last_prune_bytes=result.bytes_freed,
        )
        .execution_options(synchronize_session=False)
    )
    db_session.commit()


class _Run(ABC):
    """The walk of one prune; a real run and a dry run differ only in what a batch does."""

    # Bytes of the files taken so far that the usage row still counts: none in
    # a real run, whose commits take them off batch by batch.
    still_counted_bytes = 0

    def __init__(self, db_session: Session, result: PruneResult) -> None:
        self.db_session = db_session
        self.result = result

    def take(
        self,
        condition: sa.ColumnElement[bool],
        order: OrderColumn,
        reason: str,
        batch_size: int,
        bytes_wanted: int | None = None,
    ) -> None:
        """Take the files matching ``condition`` in ``order`` (then id), a batch at a time.

        With ``bytes_wanted``, only until the files taken add up to that many bytes.
        """
        candidates = sa.select(MediaFile.id, MediaFile.size).where(condition)
        for rows in keyset_batches(
            self.db_session,
            self._lock(candidates, reason),
            order_by=[order, MediaFile.id],
            batch_size=batch_size,
        ):
            if bytes_wanted is None:
                self._take_batch(rows, reason)
                continue
            bytes_wanted -= self._take_batch(_enough_for(rows, bytes_wanted), reason)
            if bytes_wanted <= 0:
                return

    def _lock(self, candidates: _CandidateQuery, reason: str) -> _CandidateQuery:
        """``candidates`` as this run reads them: as they are, unless it deletes them."""
        return candidates

    @abstractmethod
    def _take_batch(self, rows: Sequence[_Candidate], reason: str) -> int:
        """Delete (or plan to delete) ``rows``; return the bytes that frees."""


class _Deletion(_Run):
    """The real run, batch by batch: mark and commit, unlink, delete rows and commit."""

    def __init__(self, db_session: Session, storage: LocalStorage, result: PruneResult) -> None:
        super().__init__(db_session, result)
        self.storage = storage

    def _lock(self, candidates: _CandidateQuery, reason: str) -> _CandidateQuery:
        if reason == UNFINISHED:
            return candidates  # marked already, by the run that left them
        # SKIP LOCKED: rows a manager is putting on hold right now are left for next time.
        return candidates.with_for_update(skip_locked=True)

    def _take_batch(self, rows: Sequence[_Candidate], reason: str) -> int:
        ids = [row.id for row in rows]
        if reason != UNFINISHED:
            self.db_session.execute(
                sa.update(MediaFile)
                .where(MediaFile.id.in_(ids))
                .values(deleting_at=sa.func.now())
                .execution_options(synchronize_session=False)
            )
        # Committed before any file is unlinked: a crash from here on leaves marked rows.
        self.db_session.commit()
        files, freed = finish_deletions(
            db_session=self.db_session, storage=self.storage, file_ids=ids
        )
        self.result.add(files, freed, reason)
        return freed


class _DryRun(_Run):
    """Walks what a real run would delete, in the same order, changing nothing."""

    def __init__(
        self, db_session: Session, result: PruneResult, report: FileReporter | None
    ) -> None:
        super().__init__(db_session, result)
        self.report = report

    def _take_batch(self, rows: Sequence[_Candidate], reason: str) -> int:
        planned = 0
        for row in rows:
            self.result.add(1, row.size, reason)
            planned += row.size
            if self.report is not None:
                self.report(row.id, row.size, reason)
        # Nothing is deleted: the usage row still counts every byte planned.
        self.still_counted_bytes += planned
        return planned


def _enough_for(rows: Sequence[_Candidate], nbytes: int) -> Sequence[_Candidate]:
    """The shortest prefix of ``rows`` whose sizes add up to ``nbytes`` (or all of them)."""
    total = 0
    for count, row in enumerate(rows, start=1):
        total += row.size
        if total >= nbytes:
            return rows[:count]
    return rows
