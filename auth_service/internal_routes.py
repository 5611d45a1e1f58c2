"""Routes for the gateway only (never in its public route table): revocation state."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from apiflask.fields import Integer, String
from flask import jsonify
from flask.typing import ResponseReturnValue

from auth_service import revocation, service
from shared.db import current_session
from shared.errors import APIError
from shared.internal_auth import current_identity

bp = APIBlueprint("internal", __name__, url_prefix="/internal")


def require_gateway() -> None:
    identity = current_identity()
    if identity.caller != "gateway" or identity.user_id is not None:
        raise APIError(403, "gateway_only", "Only the gateway may call this")


@bp.get("/revocations")
@bp.doc(hide=True)
def revocation_snapshot() -> ResponseReturnValue:
    """Every revoked token still unexpired, every user's token generation, and the version."""
    require_gateway()
    tokens, generations, version = revocation.snapshot(current_session())
    return jsonify(
        tokens=[{"jti": jti, "exp": exp} for jti, exp in tokens],
        generations=generations,
        version=version,
    )


@bp.get("/revocation-version")
@bp.doc(hide=True)
def revocation_version() -> ResponseReturnValue:
    """The version of the last committed revocation (each gateway worker polls it)."""
    require_gateway()
    return jsonify(version=revocation.current_version(current_session()))


@bp.get("/token-status")
@bp.input(
    {"jti": String(required=True), "sub": String(required=True), "gen": Integer(required=True)},
    location="query",
    arg_name="query",
)
@bp.doc(hide=True)
def token_status(query: dict[str, Any]) -> ResponseReturnValue:
    """Whether one token is revoked, from PostgreSQL (the gateway's fallback)."""
    require_gateway()
    session = current_session()
    # Read first: the answer is then complete up to (at least) this version.
    version = revocation.current_version(session)
    revoked = revocation.is_revoked(
        session, jti=query["jti"], user_id=query["sub"], generation=query["gen"]
    )
    return jsonify(revoked=revoked, version=version)


@bp.get("/users/<uuid:user_id>")
@bp.doc(hide=True)
def user_summary(user_id: uuid.UUID) -> ResponseReturnValue:
    """Who a user is, for other services (the fleet service links drivers to users)."""
    identity = current_identity()
    if identity.caller == "gateway":
        raise APIError(403, "services_only", "Only services may call this")
    user = service.get_user(db_session=current_session(), user_id=user_id)
    return jsonify(
        id=str(user.id),
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        is_active=user.is_active,
    )
