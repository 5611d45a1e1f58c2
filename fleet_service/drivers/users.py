"""The auth service's users, looked up over its internal API (drivers are linked to them)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from shared.config import Settings
from shared.http_client import ServiceClient
from shared.routes import Uses


@dataclass(frozen=True)
class AuthUser:
    id: uuid.UUID
    full_name: str
    role: str
    is_active: bool


FindUser = Callable[[uuid.UUID], AuthUser | None]


class AuthUsers:
    """The users of the auth service, as the fleet sees them."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def find(self, user_id: uuid.UUID) -> AuthUser | None:
        """The user, or None when the auth service has no such user."""
        body = self.client.find(f"/internal/users/{user_id}")
        if body is None:
            return None
        return AuthUser(
            id=uuid.UUID(body["id"]),
            full_name=body["full_name"],
            role=body["role"],
            is_active=body["is_active"],
        )


def init_app(app: Flask, settings: Settings) -> None:
    """One pooled client to the auth service per app."""
    client = ServiceClient.for_service(settings, caller="fleet", target="auth")
    app.extensions["auth_users"] = AuthUsers(client)


def auth_users() -> AuthUsers:
    """The auth service's users, for the app being served."""
    users: AuthUsers = current_app.extensions["auth_users"]
    return users


# For command routes whose service function looks users up (see shared.routes).
FIND_USER: Uses = {"find_user": lambda: auth_users().find}
