"""Issuing client tokens (flask-jwt-extended) for a user."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token

from auth_service.models import User
from shared.tokens import GENERATION_CLAIM, MUST_CHANGE_PASSWORD_CLAIM, ROLE_CLAIM


def _claims(user: User) -> dict[str, Any]:
    return {
        ROLE_CLAIM: user.role,
        MUST_CHANGE_PASSWORD_CLAIM: user.must_change_password,
        GENERATION_CLAIM: user.token_generation,
    }


def access_token_for(user: User) -> dict[str, Any]:
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=str(user.id), additional_claims=_claims(user)),
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
        "must_change_password": user.must_change_password,
    }


def tokens_for(user: User) -> dict[str, Any]:
    """A fresh access + refresh token pair."""
    refresh = create_refresh_token(identity=str(user.id), additional_claims=_claims(user))
    return {**access_token_for(user), "refresh_token": refresh}
