"""Calling a service in-process as the gateway would: with an internal credential."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token
from werkzeug.test import TestResponse

from shared.config import Settings
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from shared.tokens import configure_jwt


def gateway_credential(
    secret: str,
    service: str,
    *,
    user_id: str | None = None,
    role: str | None = None,
    client_ip: str | None = None,
) -> dict[str, str]:
    """The header the gateway would send ``service`` for this user (anonymous without one),
    for a client at ``client_ip``."""
    token = mint_internal_token(
        secret,
        issuer="gateway",
        audience=service,
        request_id=uuid.uuid4().hex,
        user_id=user_id,
        role=role,
        client_ip=client_ip,
    )
    return {INTERNAL_TOKEN_HEADER: token}


def client_access_token(settings: Settings, user_id: str, role: str = "manager") -> str:
    """A client's access token, signed with ``settings`` as the auth service would sign it
    (no login needed)."""
    app = Flask("token-minter")
    configure_jwt(app, settings)
    JWTManager(app)
    with app.app_context():
        return create_access_token(
            identity=user_id, additional_claims={"role": role, "mcp": False, "gen": 0}
        )


class ApiClient:
    """A Flask test client that acts for a user (or anonymously, like login)."""

    def __init__(self, app: Flask, service: str, secret: str) -> None:
        self.app = app
        self.service = service
        self.secret = secret
        self.client = app.test_client()

    def headers_for(self, user_id: str | None = None, role: str | None = None) -> dict[str, str]:
        return gateway_credential(self.secret, self.service, user_id=user_id, role=role)

    def call(
        self, method: str, path: str, *, user: Any = None, role: str | None = None, **kwargs: Any
    ) -> TestResponse:
        """``user`` is a User-like object (id, role) or an id string with ``role``."""
        user_id = None
        if user is not None:
            user_id = str(getattr(user, "id", user))
            role = role or getattr(user, "role", None)
        headers = {**self.headers_for(user_id, role), **kwargs.pop("headers", {})}
        kwargs.setdefault("buffered", True)
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("DELETE", path, **kwargs)
