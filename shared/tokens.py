"""Client JWT settings: one definition for the auth service (issues) and the gateway (verifies)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from shared.config import Settings

TOKEN_ISSUER = "frota-auth"
TOKEN_AUDIENCE = "frota-api"
# Claim names carried in access tokens beside flask-jwt-extended's own.
ROLE_CLAIM = "role"
MUST_CHANGE_PASSWORD_CLAIM = "mcp"
# The user's token generation at issue; a token older than the user's current
# generation has been revoked (password or role change, deactivation).
GENERATION_CLAIM = "gen"


def configure_jwt(app: Flask, settings: Settings) -> None:
    """Set flask-jwt-extended's configuration identically wherever tokens are handled."""
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(hours=settings.jwt_access_token_hours),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.jwt_refresh_token_days),
        JWT_ENCODE_ISSUER=TOKEN_ISSUER,
        JWT_DECODE_ISSUER=TOKEN_ISSUER,
        JWT_ENCODE_AUDIENCE=TOKEN_AUDIENCE,
        JWT_DECODE_AUDIENCE=TOKEN_AUDIENCE,
        JWT_TOKEN_LOCATION=["headers"],
        JWT_HEADER_TYPE="Bearer",
        JWT_IDENTITY_CLAIM="sub",
        JWT_ERROR_MESSAGE_KEY="message",
    )
