"""Events, the webhooks subscribed to them, and each delivery with its attempts.

An event is written in the transaction of the change that raises it, with one
delivery per active webhook subscribed to its type (fleet_service.events): a
committed change never loses its event, a rolled-back one raises none.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from fleet_service.base import Base

EVENT_TYPES = (
    "alert.raised",
    "alert.resolved",
    "trip.checked_out",
    "trip.checked_in",
    "inspection.failed",
    "fine.created",
)
# Sent by POST /webhooks/{id}/test only: nobody subscribes to it.
PING = "ping"
DELIVERY_STATUSES = ("pending", "delivered", "failed")
ATTEMPT_OUTCOMES = ("delivered", "failed", "refused")


def _now() -> sa.FunctionElement[datetime]:
    return sa.func.clock_timestamp()


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_occurred_at", "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(sa.String(40))
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    data: Mapped[dict[str, Any]] = mapped_column(postgresql.JSONB)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (sa.Index("ix_webhooks_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]] = mapped_column(postgresql.ARRAY(sa.String(40)))
    # Signs each delivery (HMAC-SHA256); never answered.
    secret: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    author_user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )


class WebhookDelivery(Base):
    """One event for one webhook: its id is the X-Frota-Delivery of every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("webhook_id", "event_id"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
        sa.Index("ix_webhook_deliveries_event_id", "event_id"),
        sa.Index("ix_webhook_deliveries_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    webhook_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class WebhookAttempt(Base):
    """One POST of a delivery (or its refusal before any byte was sent), as logged."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        sa.CheckConstraint("outcome IN ('delivered', 'failed', 'refused')", name="outcome_known"),
        sa.Index("ix_webhook_attempts_webhook_id_attempted_at", "webhook_id", "attempted_at", "id"),
        sa.Index("ix_webhook_attempts_delivery_id", "delivery_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(sa.String(40))
    attempt: Mapped[int]
    outcome: Mapped[str] = mapped_column(sa.String(16))
    response_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(sa.String(500))
    attempted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # None once the delivery succeeded or was given up.
    next_retry_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
