"""Webhook rules: where they may point, what they hear, and their ping.

Deliveries themselves are the worker's (fleet_service.webhooks.delivery); here a
webhook is saved only with a URL the worker would send to, so a refusal is the
caller's 422 now rather than a log line later.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.events import record_event
from fleet_service.webhooks.addresses import RefusedAddress, vet
from fleet_service.webhooks.models import PING, Webhook, WebhookAttempt, WebhookDelivery
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records

WEBHOOKS = Records(
    Webhook,
    not_found=("webhook_not_found", "No such webhook"),
    order_by=[Webhook.created_at, Webhook.id],
    descending=True,
)
# The routes' roles are the rule: managers only.
ATTEMPTS = Records(
    WebhookAttempt,
    not_found=("webhook_attempt_not_found", "No such delivery attempt"),
    order_by=[WebhookAttempt.attempted_at, WebhookAttempt.id],
    descending=True,
)


def check_url(url: str, *, allow_private_networks: bool) -> str:
    """``url`` if deliveries may go there now, else 422 on ``url`` saying why."""
    try:
        vet(url, allow_private=allow_private_networks)
    except RefusedAddress as refusal:
        raise APIError(422, details={"url": [str(refusal)]}) from None
    return url


def create_webhook(
    *,
    db_session: Session,
    identity: Identity,
    allow_private_networks: bool,
    url: str,
    events: list[str],
    secret: str,
    active: bool = True,
) -> Webhook:
    """Subscribe ``url`` to ``events``; each delivery is signed with ``secret``."""
    webhook = Webhook(
        url=check_url(url, allow_private_networks=allow_private_networks),
        events=events,
        secret=secret,
        active=active,
        author_user_id=caller_user_id(identity),
    )
    db_session.add(webhook)
    db_session.commit()
    return webhook


def update_webhook(
    *,
    db_session: Session,
    identity: Identity,
    webhook_id: uuid.UUID,
    allow_private_networks: bool,
    changes: dict[str, Any],
) -> Webhook:
    """Change the fields sent. A delivery still pending goes, at its next attempt, to the
    webhook as it is then (its new URL, signed with its new secret)."""
    webhook = WEBHOOKS.get(db_session, identity, webhook_id, for_update=True)
    if "url" in changes:
        webhook.url = check_url(changes["url"], allow_private_networks=allow_private_networks)
    for name in ("events", "secret", "active"):
        if name in changes:
            setattr(webhook, name, changes[name])
    db_session.commit()
    return webhook


def delete_webhook(*, db_session: Session, identity: Identity, webhook_id: uuid.UUID) -> None:
    """Delete a webhook with its deliveries and their log (the jobs left find nothing to do)."""
    db_session.delete(WEBHOOKS.get(db_session, identity, webhook_id, for_update=True))
    db_session.commit()


def send_ping(
    *, db_session: Session, identity: Identity, webhook_id: uuid.UUID
) -> dict[str, uuid.UUID]:
    """Record a ``ping`` for this webhook alone; the worker delivers it as any event."""
    # Locked: not deactivated or deleted between the check and the ping's delivery row.
    webhook = WEBHOOKS.get(db_session, identity, webhook_id, for_update=True)
    if not webhook.active:
        raise APIError(409, "webhook_inactive", "An inactive webhook gets no deliveries")
    event = record_event(
        db_session, PING, {"webhook_id": str(webhook.id)}, only_webhook_id=webhook.id
    )
    delivery_id = db_session.scalars(
        sa.select(WebhookDelivery.id).where(WebhookDelivery.event_id == event.id)
    ).one()
    db_session.commit()
    return {"delivery_id": delivery_id, "event_id": event.id}


def webhook_attempts(
    *, db_session: Session, identity: Identity, webhook_id: uuid.UUID
) -> sa.Select[Any]:
    """The attempts of one webhook's deliveries (404 for an unknown webhook)."""
    webhook = WEBHOOKS.get(db_session, identity, webhook_id)
    return ATTEMPTS.select(identity).where(WebhookAttempt.webhook_id == webhook.id)
