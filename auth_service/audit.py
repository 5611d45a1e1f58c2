"""The audit trail: every login, failure, lockout, password, role and status change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from auth_service.models import AuditEvent
from shared.internal_auth import Identity


def _uuid(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def record(
    db_session: Session,
    *,
    action: str,
    identity: Identity | None,
    target_id: str | uuid.UUID | None = None,
    actor_id: str | uuid.UUID | None = None,
    **details: Any,
) -> None:
    """Add an event to the session; it is committed with the change it records."""
    db_session.add(
        AuditEvent(
            action=action,
            actor_id=_uuid(
                actor_id if actor_id is not None else identity.user_id if identity else None
            ),
            target_id=_uuid(target_id),
            ip=identity.client_ip if identity else None,
            request_id=identity.request_id if identity else None,
            details=details,
        )
    )
