"""Each user's notification settings, and the alerts already announced."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from fleet_service.base import Base

DIGESTS = ("off", "daily")
LANGUAGES = ("pt-BR", "en")


class NotificationSetting(Base):
    __tablename__ = "notification_settings"
    __table_args__ = (
        sa.CheckConstraint("email_digest IN ('off', 'daily')", name="digest_known"),
        sa.CheckConstraint("language IN ('pt-BR', 'en')", name="language_known"),
        sa.CheckConstraint("email_digest = 'off' OR email IS NOT NULL", name="digest_has_email"),
    )

    # The auth service's user: another schema, so the id only.
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email_digest: Mapped[str] = mapped_column(sa.String(8), default="off")
    language: Mapped[str] = mapped_column(sa.String(8), default="pt-BR")
    # Where the digest goes: given with the settings (the fleet service does not read
    # accounts' e-mail addresses), required for a daily digest.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # When the last digest went out: one a São Paulo day, however many workers run
    # (fleet_service.notifications.digest), and the next lists what was raised since.
    last_digest_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )


class AnnouncedAlert(Base):
    """An alert that has raised its ``alert.raised``; removed with its ``alert.resolved``.

    The primary key makes "first appears" and "goes away" one row each, whatever
    number of evaluations run at once.
    """

    __tablename__ = "announced_alerts"

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    # The alert as /alerts answered it when it was raised (and as the digest lists it).
    data: Mapped[dict[str, Any]] = mapped_column(postgresql.JSONB)
