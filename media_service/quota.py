"""The volume quota, kept exact under concurrent uploads.

An upload reserves its Content-Length (or the most a body may be) before its
body is read, in one UPDATE of the usage row that succeeds only while used +
reserved + the new reservation stays within the quota. Concurrent uploads
serialise on that row, so together they can never cross the quota. When the
file is stored, the reservation becomes the file's actual size in the same
transaction as the file's row; on any failure it is released. A process killed
mid-upload leaves a reservation behind, which prune releases once it is stale.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.models import MediaFile, UploadReservation, VolumeUsage
from shared.errors import APIError

USAGE_ROW = 1
# Longer than any upload can take (the gateway gives up after minutes).
STALE_RESERVATION_AGE = timedelta(hours=1)


def reserve_space(*, db_session: Session, nbytes: int, quota_bytes: int) -> uuid.UUID:
    """Reserve ``nbytes`` for an upload and commit; 507 if that would cross the quota."""
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
    if reserved is None:
        db_session.rollback()
        raise APIError(
            507,
            "quota_exceeded",
            "The media volume is full",
            details={"quota_bytes": quota_bytes},
        )
    reservation = UploadReservation(id=uuid.uuid4(), bytes=nbytes)
    db_session.add(reservation)
    db_session.commit()
    return reservation.id


def settle_reservation(*, db_session: Session, reservation_id: uuid.UUID, stored: int) -> None:
    """Turn a reservation into ``stored`` used bytes, in the caller's transaction."""
    reserved = _delete_reservations(db_session, UploadReservation.id == reservation_id)
    _change_usage(db_session, used=stored, reserved=-reserved)


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
    reserved = _delete_reservations(
        db_session, UploadReservation.created_at < sa.func.now() - older_than
    )
    if reserved:
        _change_usage(db_session, reserved=-reserved)
    db_session.commit()
    return reserved


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
