"""Verifying the client's JWT: the only place client tokens are checked."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException

from gateway.routing import PASSWORD_CHANGE_ALLOWED, Access, Route
from shared.errors import APIError
from shared.roles import ROLE_NAMES
from shared.tokens import GENERATION_CLAIM, MUST_CHANGE_PASSWORD_CLAIM, ROLE_CLAIM

BEARER_CHALLENGE = 'Bearer realm="frota"'


@dataclass(frozen=True)
class ClientIdentity:
    user_id: str
    role: str
    jti: str
    token_type: str
    must_change_password: bool
    expires_at: int
    generation: int


def _unauthorized(code: str, message: str) -> APIError:
    challenge = (
        f'{BEARER_CHALLENGE}, error="invalid_token"'
        if code != "token_required"
        else (BEARER_CHALLENGE)
    )
    return APIError(401, code, message, headers={"WWW-Authenticate": challenge})


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class VerifiedTokens:
    """The tokens this worker has already verified, so that a client's next request
    skips the signature check and claim parsing (its expiry is still checked).

    Only tokens that passed every check are kept, bounded in number; one cache
    per app, so apps with different keys never share entries.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], ClientIdentity] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, expected_type: str) -> ClientIdentity | None:
        with self._lock:
            identity = self._entries.get((token, expected_type))
            if identity is not None:
                self._entries.move_to_end((token, expected_type))
        if identity is not None and identity.expires_at <= time.time():
            raise _unauthorized("token_expired", "The token has expired")
        return identity

    def put(self, token: str, identity: ClientIdentity) -> None:
        with self._lock:
            self._entries[(token, identity.token_type)] = identity
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def verify_client_token(token: str, expected_type: str) -> ClientIdentity:
    """Check signature, expiry, issuer, audience and type; 401 for anything wrong."""
    cache: VerifiedTokens = current_app.extensions["verified_tokens"]
    cached = cache.get(token, expected_type)
    if cached is not None:
        return cached
    identity = _verify(token, expected_type)
    cache.put(token, identity)
    return identity


def _verify(token: str, expected_type: str) -> ClientIdentity:
    try:
        claims: dict[str, Any] = decode_token(token)
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token_expired", "The token has expired") from None
    except (jwt.PyJWTError, JWTExtendedException, ValueError, KeyError):
        raise _unauthorized("invalid_token", "The token is not valid") from None
    if not _claims_are_sound(claims, expected_type):
        raise _unauthorized("invalid_token", "The token is not valid here")
    return ClientIdentity(
        user_id=claims["sub"],
        role=claims[ROLE_CLAIM],
        jti=claims["jti"],
        token_type=expected_type,
        must_change_password=claims.get(MUST_CHANGE_PASSWORD_CLAIM) is True,
        expires_at=claims["exp"],
        generation=claims.get(GENERATION_CLAIM, 0),
    )


def _claims_are_sound(claims: dict[str, Any], expected_type: str) -> bool:
    """Every claim we rely on is there with the right type (signed is not the same as sane)."""
    role = claims.get(ROLE_CLAIM)
    return (
        claims.get("type") == expected_type
        and isinstance(claims.get("sub"), str)
        and bool(claims["sub"])
        and isinstance(role, str)
        and role in ROLE_NAMES
        and isinstance(claims.get("jti"), str)
        and isinstance(claims.get("exp"), int)
        and isinstance(claims.get(GENERATION_CLAIM, 0), int)
        and isinstance(claims.get(MUST_CHANGE_PASSWORD_CLAIM, False), bool)
    )


def authenticate_request(route: Route) -> ClientIdentity | None:
    """The caller's identity under ``route``'s access rule, or a 401 APIError."""
    if route.access is Access.PUBLIC:
        return None
    token = bearer_token()
    if token is None:
        raise _unauthorized("token_required", "A Bearer token is required")
    expected = "refresh" if route.access is Access.REFRESH else "access"
    return verify_client_token(token, expected)


def enforce_password_gate(identity: ClientIdentity, route: Route, method: str, path: str) -> None:
    """403 on everything but the password change while the password must change."""
    if (
        identity.must_change_password
        and route.access is Access.ACCESS
        and (method, path) not in PASSWORD_CHANGE_ALLOWED
    ):
        raise APIError(
            403,
            "password_change_required",
            "Change your password (POST /api/v1/auth/me/password) before anything else",
        )
