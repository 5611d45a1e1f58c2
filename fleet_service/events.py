"""Events, recorded in the transaction of the change that raises them (an outbox).

:func:`record_event` writes the event, one delivery per active webhook subscribed
to its type, and one job per delivery, all in the caller's transaction: the
caller's commit makes them all or none. The fleet worker delivers them
(fleet_service.webhooks.delivery).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.queue import QUEUE
from fleet_service.webhooks.models import EVENT_TYPES, PING, Event, Webhook, WebhookDelivery

DELIVER = "deliver_webhook"


def record_event(
    db_session: Session,
    event_type: str,
    data: dict[str, Any],
    *,
    occurred_at: datetime | None = None,
    only_webhook_id: uuid.UUID | None = None,
) -> Event:
    """Record ``event_type`` with ``data`` (JSON-ready) and queue its deliveries.

    ``only_webhook_id``: the event goes to that webhook alone, subscribed or not
    (the ping of POST /webhooks/{id}/test).
    """
    assert event_type in EVENT_TYPES or event_type == PING, event_type
    event = Event(id=uuid.uuid4(), type=event_type, data=data)
    if occurred_at is not None:
        event.occurred_at = occurred_at
    db_session.add(event)
    db_session.flush()
    # Key-share locked: a webhook deleted at the same moment goes before this reads it
    # or after this commits, never between the read and its delivery's foreign key.
    subscribed = sa.select(Webhook.id).where(Webhook.active).with_for_update(key_share=True)
    if only_webhook_id is not None:
        subscribed = subscribed.where(Webhook.id == only_webhook_id)
    else:
        subscribed = subscribed.where(Webhook.events.contains([event_type]))
    for webhook_id in db_session.scalars(subscribed):
        delivery = WebhookDelivery(id=uuid.uuid4(), webhook_id=webhook_id, event_id=event.id)
        db_session.add(delivery)
        db_session.flush()
        defer_attempt(db_session, delivery)
    return event


def defer_attempt(
    db_session: Session, delivery: WebhookDelivery, *, schedule_at: datetime | None = None
) -> None:
    """Defer the job of ``delivery``'s next attempt, in ``db_session``'s transaction."""
    QUEUE.defer(
        db_session,
        DELIVER,
        schedule_at=schedule_at,
        delivery_id=str(delivery.id),
        after_attempts=delivery.attempts,
    )
