"""Routes for the gateway only (never in its public route table): revocation state."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from apiflask.fields import Integer, String
from flask import jsonify
from flask.typing import ResponseReturnValue

from auth_service import revocation
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
    """Every revoked token still unexpired, and every user's token generation."""
    require_gateway()
    tokens, generations = revocation.snapshot(current_session())
    return jsonify(
        tokens=[{"jti": jti, "exp": exp} for jti, exp in tokens], generations=generations
    )


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
    revoked = revocation.is_revoked(
        current_session(), jti=query["jti"], user_id=query["sub"], generation=query["gen"]
    )
    return jsonify(revoked=revoked)
