"""Retention: pruning old files, and reconciling the volume with the database.

Prune deletes, in batches, unheld files past their expiry (or older than a
given age), then — while the volume is above its high-water mark — the oldest
unheld files until it is under the low-water mark. Each batch follows the
order of :func:`media_service.service.finish_deletions`: mark the rows and
commit, unlink the files, delete the rows and commit. Killed at any point, it
leaves marked rows (invisible to the API) that the next run finishes first;
no visible row ever points at a missing file.

One prune runs at a time across every worker and process: the periodic job
and the CLI both take a PostgreSQL advisory lock first.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.models import MediaFile, UploadReservation, VolumeUsage
from media_service.quota import (
    USAGE_ROW,
    current_usage,
    record_freed,
    release_stale_reservations,
    stale_reservation,
)
from media_service.service import finish_deletions
from media_service.storage import LocalStorage, file_id_of
from shared.db import Database
from shared.pagination import OrderColumn

logger = logging.getLogger("frota.media.retention")

BATCH_SIZE = 500
HIGH_WATER = 0.90
LOW_WATER = 0.80
# pg_try_advisory_lock key of the prune runner: "media" in ASCII, as a bigint.
PRUNE_LOCK_KEY = 0x6D65646961
# Files younger than this may belong to an upload that is still committing its
# row (or a temporary file still being written): never orphans yet.
ORPHAN_GRACE = timedelta(hours=1)

# Why a file goes: a deletion a crashed run left unfinished, its age, or the high-water mark.
UNFINISHED, EXPIRED, HIGH_WATER_MARK = "unfinished", "expired", "high_water"

# Called for each file a dry run would delete: id, size, reason.
FileReporter = Callable[[uuid.UUID, int, str], None]


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
    run.unfinished(batch_size)
    run.expired(expired, expiry_order, batch_size)
    used = current_usage(db_session=db_session).used_bytes - run.still_counted_bytes
    if used > high_water * quota_bytes:
        # A dry run must not count twice what it already plans to delete as expired.
        oldest = sa.and_(live_unheld, sa.not_(expired)) if dry_run else live_unheld
        run.oldest(oldest, used - int(low_water * quota_bytes), batch_size)

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


class _Deletion:
    """The real run, batch by batch: mark and commit, unlink, delete rows and commit."""

    # Bytes of the files chosen so far that the usage row still counts: none,
    # as each batch's commit takes its files off.
    still_counted_bytes = 0

    def __init__(self, db_session: Session, storage: LocalStorage, result: PruneResult) -> None:
        self.db_session = db_session
        self.storage = storage
        self.result = result

    def unfinished(self, batch_size: int) -> None:
        while ids := self.db_session.scalars(
            sa.select(MediaFile.id)
            .where(MediaFile.deleting_at.is_not(None))
            .order_by(MediaFile.deleting_at)
            .limit(batch_size)
        ).all():
            self._finish(ids, UNFINISHED)

    def expired(
        self, condition: sa.ColumnElement[bool], order: OrderColumn, batch_size: int
    ) -> None:
        while ids := self._claim(condition, order, batch_size):
            self._finish(ids, EXPIRED)

    def oldest(self, condition: sa.ColumnElement[bool], excess: int, batch_size: int) -> None:
        while excess > 0 and (
            ids := self._claim(condition, MediaFile.created_at, batch_size, bytes_wanted=excess)
        ):
            excess -= self._finish(ids, HIGH_WATER_MARK)

    def _claim(
        self,
        condition: sa.ColumnElement[bool],
        order: OrderColumn,
        limit: int,
        bytes_wanted: int | None = None,
    ) -> list[uuid.UUID]:
        # SKIP LOCKED: rows a manager is putting on hold right now are left for next time.
        rows = self.db_session.execute(
            sa.select(MediaFile.id, MediaFile.size)
            .where(condition)
            .order_by(order, MediaFile.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if bytes_wanted is not None:
            rows = _enough_for(rows, bytes_wanted)
        ids = [row.id for row in rows]
        if ids:
            self.db_session.execute(
                sa.update(MediaFile)
                .where(MediaFile.id.in_(ids))
                .values(deleting_at=sa.func.now())
                .execution_options(synchronize_session=False)
            )
        self.db_session.commit()
        return ids

    def _finish(self, ids: Sequence[uuid.UUID], reason: str) -> int:
        files, freed = finish_deletions(
            db_session=self.db_session, storage=self.storage, file_ids=ids
        )
        self.result.add(files, freed, reason)
        return freed


class _DryRun:
    """Walks what a real run would delete, in the same order, changing nothing."""

    def __init__(
        self, db_session: Session, result: PruneResult, report: FileReporter | None
    ) -> None:
        self.db_session = db_session
        self.result = result
        self.report = report
        # Bytes of the files chosen so far that the usage row still counts: all
        # of them, as nothing is deleted.
        self.still_counted_bytes = 0

    def unfinished(self, batch_size: int) -> None:
        for row in self._walk(MediaFile.deleting_at.is_not(None), MediaFile.id, batch_size):
            self._plan(row, UNFINISHED)

    def expired(
        self, condition: sa.ColumnElement[bool], order: OrderColumn, batch_size: int
    ) -> None:
        for row in self._walk(condition, order, batch_size):
            self._plan(row, EXPIRED)

    def oldest(self, condition: sa.ColumnElement[bool], excess: int, batch_size: int) -> None:
        for row in self._walk(condition, MediaFile.created_at, batch_size):
            if excess <= 0:
                return
            self._plan(row, HIGH_WATER_MARK)
            excess -= row.size

    def _plan(self, row: sa.Row[uuid.UUID, int, Any], reason: str) -> None:
        self.result.add(1, row.size, reason)
        self.still_counted_bytes += row.size
        if self.report is not None:
            self.report(row.id, row.size, reason)

    def _walk(
        self, condition: sa.ColumnElement[bool], order: OrderColumn, batch_size: int
    ) -> Iterator[sa.Row[uuid.UUID, int, Any]]:
        """Matching rows in ``order``, a keyset page at a time."""
        after: tuple[object, uuid.UUID] | None = None
        while True:
            stmt = sa.select(MediaFile.id, MediaFile.size, order.label("key")).where(condition)
            if after is not None:
                stmt = stmt.where(sa.tuple_(order, MediaFile.id) > sa.tuple_(*after))
            rows = self.db_session.execute(
                stmt.order_by(order, MediaFile.id).limit(batch_size)
            ).all()
            if not rows:
                return
            yield from rows
            after = (rows[-1].key, rows[-1].id)


def _enough_for(
    rows: Sequence[sa.Row[uuid.UUID, int]], nbytes: int
) -> Sequence[sa.Row[uuid.UUID, int]]:
    """The shortest prefix of ``rows`` whose sizes add up to ``nbytes`` (or all of them)."""
    total = 0
    for count, row in enumerate(rows, start=1):
        total += row.size
        if total >= nbytes:
            return rows[:count]
    return rows


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


@dataclass
class ReconcileReport:
    """Disagreements between the volume and the database (and whether they were repaired)."""

    fixed: bool
    orphan_files: int = 0  # files no row points at
    orphan_bytes: int = 0
    missing_files: int = 0  # visible rows whose file is gone
    stale_uploads: int = 0  # temporary upload files left by dead requests
    orphan_thumbnails: int = 0
    unfinished_deletions: int = 0
    stale_reservations: int = 0
    usage_drift_bytes: int = 0  # how far the usage row is from the rows it accounts for

    @property
    def problems(self) -> int:
        return (
            self.orphan_files
            + self.missing_files
            + self.stale_uploads
            + self.orphan_thumbnails
            + self.unfinished_deletions
            + self.stale_reservations
            + (1 if self.usage_drift_bytes else 0)
        )

    def summary(self) -> str:
        state = "fixed" if self.fixed else "found"
        return (
            f"reconcile {state}: {self.orphan_files} orphan files ({self.orphan_bytes} bytes), "
            f"{self.missing_files} rows without a file, {self.stale_uploads} stale uploads, "
            f"{self.orphan_thumbnails} orphan thumbnails, "
            f"{self.unfinished_deletions} unfinished deletions, "
            f"{self.stale_reservations} stale reservations, "
            f"usage off by {self.usage_drift_bytes} bytes"
        )


def reconcile_volume(
    *,
    db_session: Session,
    storage: LocalStorage,
    fix: bool = False,
    grace: timedelta = ORPHAN_GRACE,
    batch_size: int = BATCH_SIZE,
) -> ReconcileReport:
    """Find files without rows and rows without files (and the rest); repair them with ``fix``.

    Anything younger than ``grace`` may still be in flight and is left alone.
    """
    report = ReconcileReport(fixed=fix)
    cutoff = datetime.now(UTC) - grace
    old_enough = cutoff.timestamp()

    for paths in _chunks(storage.stored_files(), batch_size):
        for path, size in _unowned(db_session, storage, paths, old_enough, thumbnails=False):
            report.orphan_files += 1
            report.orphan_bytes += size
            if fix:
                path.unlink(missing_ok=True)
    for paths in _chunks(storage.thumbnail_files(), batch_size):
        for path, _ in _unowned(db_session, storage, paths, old_enough, thumbnails=True):
            report.orphan_thumbnails += 1
            if fix:
                path.unlink(missing_ok=True)
    for path in storage.incoming_files():
        if _mtime(path) < old_enough:
            report.stale_uploads += 1
            if fix:
                path.unlink(missing_ok=True)

    report.missing_files = _rows_without_files(db_session, storage, fix, batch_size)
    unfinished = MediaFile.deleting_at < cutoff
    report.unfinished_deletions = _count(db_session, MediaFile, unfinished)
    while fix and (
        ids := db_session.scalars(sa.select(MediaFile.id).where(unfinished).limit(batch_size)).all()
    ):
        finish_deletions(db_session=db_session, storage=storage, file_ids=ids)
    # Reservations have their own, shorter clock: a live upload renews its own.
    report.stale_reservations = _count(db_session, UploadReservation, stale_reservation())
    if fix and report.stale_reservations:
        release_stale_reservations(db_session=db_session)
    report.usage_drift_bytes = _usage_drift(db_session, fix)
    logger.info(report.summary())
    return report


def _unowned(
    db_session: Session,
    storage: LocalStorage,
    paths: tuple[Path, ...],
    old_enough: float,
    *,
    thumbnails: bool,
) -> Iterator[tuple[Path, int]]:
    """The paths (and sizes) among ``paths`` that no row owns and that are old enough."""
    owners = {path: file_id_of(path) for path in paths}
    known = set(
        db_session.scalars(
            sa.select(MediaFile.id).where(
                MediaFile.id.in_([i for i in owners.values() if i is not None])
            )
        )
    )
    # End the read transaction: checking the paths may take a while on a big volume.
    db_session.commit()
    for path, file_id in owners.items():
        # A stored file must sit exactly where its id says; anything else is a stranger.
        in_place = file_id is not None and (thumbnails or storage.path_for(file_id) == path)
        if in_place and file_id in known:
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # deleted meanwhile
        if stat.st_mtime < old_enough:
            yield path, stat.st_size


def _rows_without_files(
    db_session: Session, storage: LocalStorage, fix: bool, batch_size: int
) -> int:
    missing_total = 0
    after: uuid.UUID | None = None
    while True:
        stmt = sa.select(MediaFile.id).where(MediaFile.deleting_at.is_(None))
        if after is not None:
            stmt = stmt.where(MediaFile.id > after)
        ids = db_session.scalars(stmt.order_by(MediaFile.id).limit(batch_size)).all()
        if not ids:
            return missing_total
        after = ids[-1]
        missing = [file_id for file_id in ids if not storage.path_for(file_id).exists()]
        if fix and missing:
            # Still unmarked: a DELETE that marked one meanwhile finishes it itself.
            sizes = db_session.scalars(
                sa.delete(MediaFile)
                .where(MediaFile.id.in_(missing), MediaFile.deleting_at.is_(None))
                .returning(MediaFile.size)
                .execution_options(synchronize_session=False)
            ).all()
            record_freed(db_session=db_session, nbytes=sum(sizes))
        db_session.commit()
        missing_total += len(missing)


def _usage_drift(db_session: Session, fix: bool) -> int:
    # Locking the usage row waits for every upload or deletion in flight: each
    # changes it in the same transaction as the rows, so the sums below agree.
    usage = db_session.execute(
        sa.select(VolumeUsage).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    # int(): PostgreSQL sums bigints as numeric.
    stored = int(
        db_session.execute(sa.select(sa.func.coalesce(sa.func.sum(MediaFile.size), 0))).scalar_one()
    )
    reserved = int(
        db_session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(UploadReservation.bytes), 0))
        ).scalar_one()
    )
    drift = abs(usage.used_bytes - stored) + abs(usage.reserved_bytes - reserved)
    if fix and drift:
        usage.used_bytes, usage.reserved_bytes = stored, reserved
    db_session.commit()
    return drift


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")  # deleted meanwhile: nothing to report


def _count(db_session: Session, model: type, condition: sa.ColumnElement[bool]) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(model).where(condition)) or 0


def _chunks(items: Iterable[Path], size: int) -> Iterator[tuple[Path, ...]]:
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk
