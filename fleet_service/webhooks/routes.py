"""HTTP routes for webhooks: subscriptions, their delivery log and their ping (managers)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import current_app

from fleet_service.webhooks import service
from fleet_service.webhooks.schemas import (
    WebhookAttemptOut,
    WebhookCreateIn,
    WebhookOut,
    WebhookTestOut,
    WebhookUpdateIn,
)
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS
from shared.routes import Uses, command_route, get_route, list_route

bp = APIBlueprint("webhooks", __name__, url_prefix="/api/v1/fleet/webhooks", tag="Webhooks")

# Whether URLs may point at private networks (and use plain http): the deployment's call.
ALLOW_PRIVATE_NETWORKS: Uses = {
    "allow_private_networks": lambda: (
        current_app.config["FROTA_SETTINGS"].webhook_allow_private_networks
    )
}

command_route(
    bp,
    "POST",
    "",
    service.create_webhook,
    body=WebhookCreateIn,
    item=WebhookOut,
    status_code=201,
    roles=MANAGERS,
    uses=ALLOW_PRIVATE_NETWORKS,
    summary="Subscribe a URL to events (manager)",
)
list_route(
    bp,
    "",
    service.WEBHOOKS,
    endpoint="list_webhooks",
    item=WebhookOut,
    roles=MANAGERS,
    summary="List the webhooks (manager)",
)
get_route(
    bp,
    "/<uuid:webhook_id>",
    service.WEBHOOKS,
    endpoint="get_webhook",
    item=WebhookOut,
    roles=MANAGERS,
    summary="One webhook (manager)",
)
command_route(
    bp,
    "PATCH",
    "/<uuid:webhook_id>",
    service.update_webhook,
    body=WebhookUpdateIn,
    body_as="changes",
    item=WebhookOut,
    roles=MANAGERS,
    uses=ALLOW_PRIVATE_NETWORKS,
    summary="Change a webhook (manager)",
)


@bp.delete("/<uuid:webhook_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.output({}, status_code=204)
def delete_webhook(webhook_id: uuid.UUID) -> tuple[str, int]:
    """Delete a webhook with its delivery log (manager)"""
    service.delete_webhook(
        db_session=current_session(), identity=current_identity(), webhook_id=webhook_id
    )
    return "", 204


command_route(
    bp,
    "POST",
    "/<uuid:webhook_id>/test",
    service.send_ping,
    item=WebhookTestOut,
    status_code=202,
    roles=MANAGERS,
    endpoint="test_webhook",
    summary="Send the webhook a ping event, delivered by the worker as any other (manager)",
)


@bp.get("/<uuid:webhook_id>/deliveries")
@bp.auth_required(user_auth, roles=MANAGERS)
@paginated(bp, service.ATTEMPTS, item=WebhookAttemptOut)
def list_webhook_deliveries(webhook_id: uuid.UUID) -> sa.Select[Any]:
    """A webhook's delivery attempts, latest first (manager)"""
    return service.webhook_attempts(
        db_session=current_session(), identity=current_identity(), webhook_id=webhook_id
    )
