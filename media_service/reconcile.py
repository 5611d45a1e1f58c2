"""Reconciling the media volume with the database: what one has that the other lacks.

Files no row owns, rows whose file is gone, temporary uploads and thumbnails
left behind, deletions a crash left unfinished, reservations of dead uploads,
and a usage row that drifted from the rows it accounts for. Found and
reported; repaired with ``fix``. Anything young enough to be in flight is
left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.models import MediaFile, UploadReservation, VolumeUsage
from media_service.quota import record_freed, release_stale_reservations, stale_reservation
from media_service.service import finish_deletions
from media_service.storage import LocalStorage, file_id_of
from shared.pagination import keyset_batches

# The name the retention jobs have always logged under, so log filters keep working.
logger = logging.getLogger("frota.media.retention")

# Rows (or paths) in hand at a time: memory stays flat however big the volume.
BATCH_SIZE = 500
# Files younger than this may belong to an upload that is still committing its
# row (or a temporary file still being written): never orphans yet.
ORPHAN_GRACE = timedelta(hours=1)


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
    if fix:
        for rows in keyset_batches(
            db_session,
            sa.select(MediaFile.id).where(unfinished),
            order_by=[MediaFile.id],
            batch_size=batch_size,
        ):
            finish_deletions(db_session=db_session, storage=storage, file_ids=[r.id for r in rows])
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
    """How many visible rows have no file on the volume; with ``fix``, those rows go."""
    missing_total = 0
    for rows in keyset_batches(
        db_session,
        sa.select(MediaFile.id).where(MediaFile.deleting_at.is_(None)),
        order_by=[MediaFile.id],
        batch_size=batch_size,
    ):
        missing = [row.id for row in rows if not storage.path_for(row.id).exists()]
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
    return missing_total


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
