"""Tables of the media schema."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import make_base

Base = make_base("media")

KINDS = ("photo", "receipt", "document")


class MediaFile(Base):
    __tablename__ = "files"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {KINDS}", name="kind"),
        sa.CheckConstraint("size >= 0", name="size_not_negative"),
        sa.Index("ix_files_owner_id_created_at", "owner_id", "created_at"),
        sa.Index("ix_files_expires_at", "expires_at", postgresql_where=sa.text("NOT held")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(sa.String(16))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str | None] = mapped_column(sa.String(255))
    held: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
