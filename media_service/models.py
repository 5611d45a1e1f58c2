"""Tables of the media schema."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata


class Base(DeclarativeBase):
    metadata = schema_metadata("media")


KINDS = ("photo", "receipt", "document")


class MediaFile(Base):
    __tablename__ = "files"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {KINDS}", name="kind"),
        sa.CheckConstraint("size >= 0", name="size_not_negative"),
        sa.Index("ix_files_owner_id_created_at", "owner_id", "created_at"),
        # Retention looks for unheld files by expiry (the normal run), by age
        # (--older-than-days and the high-water mark), and for unfinished deletions.
        sa.Index("ix_files_expires_at", "expires_at", postgresql_where=sa.text("NOT held")),
        sa.Index("ix_files_created_at", "created_at", postgresql_where=sa.text("NOT held")),
        sa.Index(
            "ix_files_deleting_at",
            "deleting_at",
            postgresql_where=sa.text("deleting_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(sa.String(16))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str | None] = mapped_column(sa.String(255))
    held: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    width: Mapped[int | None]
    height: Mapped[int | None]
    # The camera's wall-clock time from EXIF, which records no time zone.
    captured_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=False))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # Set (and committed) before the file is unlinked; the row is deleted after.
    # A marked row is invisible to the API, and a crash between the steps leaves
    # a mark that the next prune run finishes: no visible row lacks its file.
    deleting_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class VolumeUsage(Base):
    """The one row that accounts for the media volume, checked against the quota.

    ``used_bytes`` is the sum of the sizes of all file rows and ``reserved_bytes``
    the sum of the open reservations; every transaction that changes either
    changes this row too, so concurrent uploads serialise on it.
    """

    __tablename__ = "usage"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("used_bytes >= 0", name="used_not_negative"),
        sa.CheckConstraint("reserved_bytes >= 0", name="reserved_not_negative"),
    )

    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    used_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    reserved_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    # The last prune that ran to the end (the periodic job's or `frota media
    # prune`'s), for `frota status`: when, and how much it deleted.
    last_pruned_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_prune_files: Mapped[int | None]
    last_prune_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)


class UploadReservation(Base):
    """Space promised to an upload in progress: what it has written, plus at most one step.

    It grows as the body arrives (see :mod:`media_service.quota`); ``renewed_at``
    says when the upload last showed signs of life, so that what a killed
    process left behind is released soon after.
    """

    __tablename__ = "reservations"
    __table_args__ = (sa.CheckConstraint("bytes >= 0", name="bytes_not_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    bytes: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    renewed_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
