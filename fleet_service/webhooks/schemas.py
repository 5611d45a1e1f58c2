"""Request and response shapes of the webhooks API."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import UUID, Boolean, List, String
from apiflask.validators import Length, OneOf
from marshmallow import ValidationError

from fleet_service.webhooks.models import ATTEMPT_OUTCOMES, EVENT_TYPES, Webhook, WebhookAttempt
from shared.schemas import Body, ModelSchema, Text, Trimmed, UTCDateTime

URL_DESCRIPTION = (
    "https, to a host that resolves to public addresses only (422 otherwise; "
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS lifts both rules)"
)
SECRET_DESCRIPTION = (
    "Signs each delivery: X-Frota-Signature is sha256=<hex HMAC-SHA256 of the body>. "
    "Write-only: never answered"
)


def _no_repeats(values: list[str]) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Must not name an event twice.")


def url_field(**options: Any) -> Trimmed:
    return Trimmed(validate=Length(1, 2000), metadata={"description": URL_DESCRIPTION}, **options)


def events_field(**options: Any) -> List:
    return List(
        String(validate=OneOf(EVENT_TYPES)),
        validate=[Length(1, len(EVENT_TYPES)), _no_repeats],
        metadata={"uniqueItems": True, "description": "The event types delivered"},
        **options,
    )


def secret_field(**options: Any) -> Text:
    return Text(
        validate=Length(16, 200),
        load_only=True,
        metadata={"description": SECRET_DESCRIPTION},
        **options,
    )


class WebhookCreateIn(Body):
    url = url_field(required=True)
    events = events_field(required=True)
    secret = secret_field(required=True)
    active = Boolean(load_default=True)


class WebhookUpdateIn(Body):
    """Only the fields sent change."""

    url = url_field()
    events = events_field()
    secret = secret_field()
    active = Boolean()


class WebhookOut(ModelSchema):
    class Meta:
        model = Webhook
        exclude = ("secret",)


class WebhookAttemptOut(ModelSchema):
    class Meta:
        model = WebhookAttempt

    outcome = String(
        validate=OneOf(ATTEMPT_OUTCOMES),
        metadata={
            "description": "delivered (2xx), failed (another status, a timeout, no "
            "connection) or refused (the address was not public: nothing sent)"
        },
    )
    next_retry_at = UTCDateTime(
        allow_none=True,
        metadata={"description": "When it is tried again; null once delivered or given up"},
    )


class WebhookTestOut(Schema):
    delivery_id = UUID(required=True, metadata={"description": "X-Frota-Delivery of the ping"})
    event_id = UUID(required=True, metadata={"description": "The ping event's id (its body's id)"})
