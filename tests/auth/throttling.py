"""Logging in to the auth service as the gateway would, from a given client address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from auth_service.throttle import THROTTLE_TABLE
from tests.support.identity import gateway_credential

LOGIN = "/api/v1/auth/login"


def gateway_headers(
    secret: str, address: str, *, user_id: str | None = None, role: str | None = None
) -> dict[str, str]:
    return gateway_credential(secret, "auth", user_id=user_id, role=role, client_ip=address)


def login_from(auth_api, address: str, username: str, password: str):
    """POST /login through the test client, as a client at ``address``."""
    return auth_api.client.post(
        LOGIN,
        json={"username": username, "password": password},
        headers=gateway_headers(auth_api.secret, address),
    )


def comparable(response) -> tuple[int, dict, dict]:
    """Status, body without the request id, headers without the per-request ones."""
    body = response.get_json()
    body["error"].pop("request_id", None)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "x-request-id"}
    return response.status_code, body, headers


def age_throttles(db_session: Session, *, by: timedelta) -> None:
    """Move every login counter ``by`` into the past, as if that much time had gone by."""
    table = THROTTLE_TABLE
    db_session.execute(
        sa.update(table).values(
            window_started_at=table.c.window_started_at - by,
            blocked_until=table.c.blocked_until - by,
            expires_at=table.c.expires_at - by,
        )
    )
    db_session.commit()


def now() -> datetime:
    return datetime.now(UTC)
