"""The volume quota, kept exact under concurrent uploads.

An upload's reservation grows as its body arrives, never ahead of it by more
than one step (:data:`RESERVATION_STEP`): each step is one transaction that
locks the usage row and succeeds only while used + reserved + the bytes about
to be written stay within the quota (taking up to a step more while there is
room), so concurrent uploads serialise on that row and together
can never cross the quota, while a stalled or slow upload holds only what it
has written plus one step — not the size it declared, nor (chunked) the
per-file limit. A declared Content-Length that cannot fit in what is free now
is still refused before the body is read.

When the file is stored, the reservation becomes the file's actual size in
the same transaction as the file's row; on any failure it is released. A
process killed mid-upload leaves a reservation behind: every reservation says
when its upload was last heard of (``renewed_at``, refreshed at least every
:data:`RENEW_EVERY` while bytes arrive), and one silent for
:data:`STALE_RESERVATION_AGE` is released by prune, by reconcile, and by the
next upload that finds the quota short.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.models import MediaFile, UploadReservation, VolumeUsage
from shared.errors import APIError

USAGE_ROW = 1
# How far a reservation may run ahead of the bytes written, and so the most a
# stalled upload holds: one transaction per step (50 for a 50 MB upload).
# Photos of up to a step are reserved whole before their first byte.
RESERVATION_STEP = 1024 * 1024
# A live upload renews its reservation at least this often, even when slow.
RENEW_EVERY = timedelta(seconds=60)
# Several renewals missed: the process that made it is gone. (An upload whose
# body stalls is cut off long before: MEDIA_UPLOAD_IDLE_SECONDS.)
STALE_RESERVATION_AGE = timedelta(minutes=10)


def quota_exceeded(quota_bytes: int) -> APIError:
    return APIError(
        507, "quota_exceeded", "The media volume is full", details={"quota_bytes": quota_bytes}
    )


def open_reservation(
    *, db_session: Session, declared_bytes: int | None, quota_bytes: int, step: int
) -> uuid.UUID:
    """Open an upload's reservation before its body is read, and commit.

    A declared size that cannot fit in what is free now is 507 at once. The
    reservation starts with what the upload declares, up to one ``step`` — so
    an ordinary photo is all-or-nothing before its first byte — and nothing
    for a chunked body; :class:`GrowingReservation` grows it from there.
    """
    initial = 0 if declared_bytes is None else min(declared_bytes, step)
    if not _fits(db_session, declared_bytes or 0, quota_bytes) or not _reserve(
        db_session, initial, quota_bytes
    ):
        # Space held by dead uploads is not a reason to refuse a live one.
        db_session.rollback()
        released = release_stale_reservations(db_session=db_session)
        if not (
            released
            and _fits(db_session, declared_bytes or 0, quota_bytes)
            and _reserve(db_session, initial, quota_bytes)
        ):
            db_session.rollback()
            raise quota_exceeded(quota_bytes)
    reservation = UploadReservation(id=uuid.uuid4(), bytes=initial)
    db_session.add(reservation)
    db_session.commit()
    return reservation.id


def _reserve(db_session: Session, nbytes: int, quota_bytes: int) -> bool:
    """Add ``nbytes`` to the reserved bytes if the quota can take them (not committed)."""
    reserved = db_session.execute(
        sa.update(VolumeUsage)
        .where(
            VolumeUsage.id == USAGE_ROW,
            VolumeUsage.used_bytes + VolumeUsage.reserved_bytes + nbytes <= quota_bytes,
        )
        .values(reserved_bytes=VolumeUsage.reserved_bytes + nbytes)
        .returning(VolumeUsage.id)
        .execution_options(synchronize_session=False)
    ).first()
    return reserved is not None


def _fits(db_session: Session, nbytes: int, quota_bytes: int) -> bool:
    usage = current_usage(db_session=db_session)
    return usage.used_bytes + usage.reserved_bytes + nbytes <= quota_bytes


class GrowingReservation:
    """One upload's reservation, grown as its bytes are written (see the module docstring).

    Every file part of the request writes through the same one, so whatever
    reaches the volume is reserved first.
    """

    def __init__(
        self,
        *,
        db_session: Session,
        reservation_id: uuid.UUID,
        quota_bytes: int,
        declared_bytes: int | None,
        step: int = RESERVATION_STEP,
    ) -> None:
        self.db_session = db_session
        self.reservation_id = reservation_id
        self.quota_bytes = quota_bytes
        # No more is ever needed than the body declares (its file parts are smaller).
        self.most = declared_bytes
        self.step = step
        self.written = 0
        # What open_reservation reserved.
        self.reserved = 0 if declared_bytes is None else min(declared_bytes, step)
        self._renewed = time.monotonic()

    def cover(self, nbytes: int) -> None:
        """Make room for ``nbytes`` more before they are written; 507 if the quota is full."""
        self.written += nbytes
        if self.written > self.reserved:
            self.reserved += self._grow(self.written - self.reserved)
            self._renewed = time.monotonic()
        elif time.monotonic() - self._renewed > RENEW_EVERY.total_seconds():
            self._renew()
            self._renewed = time.monotonic()

    def _grow(self, needed: int) -> int:
        granted = self._try_grow(needed)
        # Space held by dead uploads is not a reason to refuse a live one.
        if granted is None and release_stale_reservations(db_session=self.db_session):
            granted = self._try_grow(needed)
        if granted is None:
            raise quota_exceeded(self.quota_bytes)
        return granted

    def _try_grow(self, needed: int) -> int | None:
        """One step in one transaction: ``needed`` bytes and up to a step more, or None."""
        db = self.db_session
        # The reservation row first, then the usage row: the order every
        # transaction that touches both takes, so they never deadlock.
        self._touch()
        usage = db.execute(
            sa.select(VolumeUsage.used_bytes, VolumeUsage.reserved_bytes)
            .where(VolumeUsage.id == USAGE_ROW)
            .with_for_update()
        ).one()
        free = self.quota_bytes - usage.used_bytes - usage.reserved_bytes
        if free < needed:
            db.rollback()
            return None
        ahead = self.step if self.most is None else min(self.step, self.most - self.reserved)
        granted = max(needed, min(ahead, free))
        _change_usage(db, reserved=granted)
        db.execute(
            sa.update(UploadReservation)
            .where(UploadReservation.id == self.reservation_id)
            .values(bytes=UploadReservation.bytes + granted)
            .execution_options(synchronize_session=False)
        )
        db.commit()
        return granted

    def _renew(self) -> None:
        self._touch()
        self.db_session.commit()

    def _touch(self) -> None:
        renewed = self.db_session.execute(
            sa.update(UploadReservation)
            .where(UploadReservation.id == self.reservation_id)
            .values(renewed_at=sa.func.clock_timestamp())
            .returning(UploadReservation.id)
            .execution_options(synchronize_session=False)
        ).first()
        if renewed is None:
            self.db_session.rollback()
            raise reservation_expired()


def reservation_expired() -> APIError:
    # Only possible if this upload went unheard of for STALE_RESERVATION_AGE.
    return APIError(
        503,
        "upload_expired",
        "The upload took too long and its reserved space was released; send it again",
        headers={"Retry-After": "1"},
    )


def settle_reservation(*, db_session: Session, reservation_id: uuid.UUID, stored: int) -> None:
    """Turn a reservation into ``stored`` used bytes, in the caller's transaction."""
    released = db_session.scalars(
        sa.delete(UploadReservation)
        .where(UploadReservation.id == reservation_id)
        .returning(UploadReservation.bytes)
        .execution_options(synchronize_session=False)
    ).all()
    if not released:
        raise reservation_expired()
    _change_usage(db_session, used=stored, reserved=-released[0])


def release_reservation(*, db_session: Session, reservation_id: uuid.UUID) -> None:
    """Give a reservation's space back and commit (nothing happens if it is settled)."""
    reserved = _delete_reservations(db_session, UploadReservation.id == reservation_id)
    if reserved:
        _change_usage(db_session, reserved=-reserved)
    db_session.commit()


def release_stale_reservations(
    *, db_session: Session, older_than: timedelta = STALE_RESERVATION_AGE
) -> int:
    """Release what uploads of dead processes reserved; commit; return the bytes released."""
    reserved = _delete_reservations(db_session, stale_reservation(older_than))
    if reserved:
        _change_usage(db_session, reserved=-reserved)
    db_session.commit()
    return reserved


def stale_reservation(older_than: timedelta = STALE_RESERVATION_AGE) -> sa.ColumnElement[bool]:
    """Reservations whose upload has not been heard of for ``older_than``."""
    return UploadReservation.renewed_at < sa.func.clock_timestamp() - older_than


def record_freed(*, db_session: Session, nbytes: int) -> None:
    """Account for file rows deleted in the caller's transaction."""
    if nbytes:
        _change_usage(db_session, used=-nbytes)


def current_usage(*, db_session: Session) -> VolumeUsage:
    return db_session.execute(
        sa.select(VolumeUsage)
        .where(VolumeUsage.id == USAGE_ROW)
        .execution_options(populate_existing=True)
    ).scalar_one()


@dataclass(frozen=True)
class VolumeReport:
    used_bytes: int
    reserved_bytes: int
    quota_bytes: int
    files: int
    oldest_file: MediaFile | None


def volume_report(*, db_session: Session, quota_bytes: int) -> VolumeReport:
    """Bytes used and reserved against the quota, the number of files and the oldest one."""
    usage = current_usage(db_session=db_session)
    live = MediaFile.deleting_at.is_(None)
    files = db_session.scalar(sa.select(sa.func.count()).select_from(MediaFile).where(live))
    oldest = db_session.scalar(
        sa.select(MediaFile).where(live).order_by(MediaFile.created_at, MediaFile.id).limit(1)
    )
    return VolumeReport(
        used_bytes=usage.used_bytes,
        reserved_bytes=usage.reserved_bytes,
        quota_bytes=quota_bytes,
        files=files or 0,
        oldest_file=oldest,
    )


def _delete_reservations(db_session: Session, condition: sa.ColumnElement[bool]) -> int:
    released = db_session.scalars(
        sa.delete(UploadReservation)
        .where(condition)
        .returning(UploadReservation.bytes)
        .execution_options(synchronize_session=False)
    ).all()
    return sum(released)


def _change_usage(db_session: Session, *, used: int = 0, reserved: int = 0) -> None:
    db_session.execute(
        sa.update(VolumeUsage)
        .where(VolumeUsage.id == USAGE_ROW)
        .values(
            used_bytes=VolumeUsage.used_bytes + used,
            reserved_bytes=VolumeUsage.reserved_bytes + reserved,
        )
        .execution_options(synchronize_session=False)
    )
