"""The internal credential: how a service knows who is calling it.

Only the gateway verifies client JWTs. For each request it forwards, it mints a
short-lived token signed with ``INTERNAL_SECRET_KEY`` that names the user, role,
target service (audience) and request id. Services accept nothing else: a
request that reaches a service without a valid credential — for example by
bypassing the gateway — is answered 401. Service-to-service calls carry a
credential of the same kind, issued by the calling service.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from apiflask import APIKeyHeaderAuth
from apiflask.exceptions import HTTPError
from flask import Flask, g, request

from shared.errors import APIError
from shared.logs import REQUEST_ID_HEADER, is_valid_request_id, new_request_id
from shared.roles import ADMINS, MANAGERS, ROLE_NAMES

INTERNAL_TOKEN_HEADER = "X-Frota-Internal"
ALGORITHM = "HS256"
ISSUERS = frozenset({"gateway", "auth", "fleet", "media", "cli"})


@dataclass(frozen=True)
class Identity:
    """Who a request acts for: a user (with role), or a service acting as itself."""

    user_id: str | None
    role: str | None
    caller: str
    request_id: str
    client_ip: str | None = None
    # The client token the gateway verified for this request (logout revokes it).
    token_jti: str | None = None
    token_exp: int | None = None

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGERS

    @property
    def is_admin(self) -> bool:
        return self.role in ADMINS


def mint_internal_token(
    secret: str,
    *,
    issuer: str,
    audience: str,
    request_id: str,
    user_id: str | None = None,
    role: str | None = None,
    ttl_seconds: int = 30,
    client_ip: str | None = None,
    token_jti: str | None = None,
    token_exp: int | None = None,
) -> str:
    """Sign a credential for one call from ``issuer`` to ``audience``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "rid": request_id,
    }
    if user_id is not None:
        claims["sub"] = user_id
        claims["role"] = role
    if client_ip is not None:
        claims["ip"] = client_ip
    if token_jti is not None:
        claims["jti_c"] = token_jti
        claims["exp_c"] = token_exp
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_internal_token(token: str, secret: str, *, audience: str) -> Identity:
    """Return the identity in ``token`` or raise :class:`APIError` (401)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            options={"require": ["exp", "iat", "iss", "aud", "rid"]},
            leeway=2,
        )
    except jwt.PyJWTError as exc:
        raise APIError(401, "invalid_internal_credential", "Invalid internal credential") from exc
    if not _claims_are_sound(claims):
        raise APIError(401, "invalid_internal_credential", "Invalid internal credential")
    request_id = claims["rid"] if is_valid_request_id(claims["rid"]) else new_request_id()
    return Identity(
        user_id=claims.get("sub"),
        role=claims.get("role"),
        caller=claims["iss"],
        request_id=request_id,
        client_ip=claims.get("ip"),
        token_jti=claims.get("jti_c"),
        token_exp=claims.get("exp_c"),
    )


def _claims_are_sound(claims: dict[str, Any]) -> bool:
    """A known issuer; and either no user and no role, or a user id with a known role.

    The types are checked too: a signed but malformed claim (``"iss": [...]``)
    must be a 401, not a TypeError.
    """
    issuer, user_id, role = claims.get("iss"), claims.get("sub"), claims.get("role")
    if not isinstance(issuer, str) or issuer not in ISSUERS:
        return False
    optional_types = {"ip": str, "jti_c": str, "exp_c": int}
    for name, kind in optional_types.items():
        if claims.get(name) is not None and not isinstance(claims[name], kind):
            return False
    if user_id is None:
        return role is None
    return (
        bool(user_id) and isinstance(user_id, str) and isinstance(role, str) and role in ROLE_NAMES
    )


def init_internal_auth(
    app: Flask, *, service: str, secret: str, open_paths: Iterable[str] = ()
) -> None:
    """Require a valid internal credential on every request to ``app``.

    ``open_paths`` (liveness/readiness probes) answer without one; they reveal
    nothing but whether the process and its database are up.
    """
    open_set = frozenset(open_paths)

    @app.before_request
    def require_internal_credential() -> None:
        claimed = request.headers.get(REQUEST_ID_HEADER)
        g.request_id = claimed if is_valid_request_id(claimed) else new_request_id()
        if request.path in open_set:
            return
        token = request.headers.get(INTERNAL_TOKEN_HEADER)
        if not token:
            raise APIError(401, "internal_credential_required", "Missing internal credential")
        identity = verify_internal_token(token, secret, audience=service)
        g.identity = identity
        g.request_id = identity.request_id


def current_identity() -> Identity:
    """The identity of the request being served (set by the credential check)."""
    identity = g.get("identity")
    if identity is None:
        raise APIError(401, "internal_credential_required", "Missing internal credential")
    return identity


# Route access, declared: ``@bp.auth_required(user_auth)`` for any user,
# ``@bp.auth_required(user_auth, roles=MANAGERS)`` for some roles. APIFlask writes
# the declaration into the operation's security and its 401 response in OpenAPI
# (under the scheme clients use: the gateway turns their bearer token into the
# internal credential). The credential itself was verified before the view
# (init_internal_auth); this decides whether its identity may use the route.
user_auth = APIKeyHeaderAuth(
    param_name=INTERNAL_TOKEN_HEADER,
    security_scheme_name="bearerAuth",
    description="A user's access token (POST /api/v1/auth/login)",
)


def current_user() -> Identity:
    """The identity of the calling user; 403 for a service calling as itself."""
    identity = current_identity()
    if identity.user_id is None:
        raise APIError(403, "user_required", "This route acts for a user")
    return identity


@user_auth.verify_token
def _identity_of_user(token: str) -> Identity:
    return current_user()


@user_auth.get_user_roles
def _role_of(identity: Identity) -> str | None:
    return identity.role


@user_auth.error_processor
def _refused(error: HTTPError) -> Any:
    if error.status_code == 401:
        # Only on an app without init_internal_auth: it refuses such requests first.
        raise APIError(401, "internal_credential_required", "Missing internal credential")
    raise APIError(403, "forbidden", "Your role may not do this")
