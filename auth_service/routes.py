"""HTTP routes of the auth service: validate, call the domain, serialize."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import jwt
import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import current_app
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException

from auth_service import service
from auth_service.revocation import RevocationPublisher
from auth_service.schemas import (
    LoginIn,
    LogoutIn,
    PasswordChangeIn,
    TokensOut,
    UserCreatedOut,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
)
from auth_service.throttle import LoginPolicy
from auth_service.tokens import access_token_for, tokens_for
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import ADMINS, MANAGERS
from shared.routes import Uses, command_route

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", tag="Auth")


def publisher() -> RevocationPublisher:
    return current_app.extensions["revocation_publisher"]


# For commands that end a user's sessions: the other services hear of it at once.
PUBLISHER: Uses = {"publisher": publisher}


def login_policy() -> LoginPolicy:
    """The login counters of this app's settings (built once per app)."""
    policy: LoginPolicy | None = current_app.extensions.get("login_policy")
    if policy is None:
        policy = LoginPolicy.from_settings(current_app.config["FROTA_SETTINGS"])
        current_app.extensions["login_policy"] = policy
    return policy


@bp.post("/login")
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(
    security=[],
    responses={
        401: "Invalid credentials",
        429: "Too many attempts: rate limited, slowed down, or locked for this address",
    },
)
def login(body: dict[str, Any]) -> dict[str, Any]:
    """Log in with username and password"""
    user = service.authenticate(
        db_session=current_session(),
        policy=login_policy(),
        username=body["username"],
        password=body["password"],
        identity=current_identity(),
    )
    return tokens_for(user)


@bp.post("/refresh")
@bp.auth_required(user_auth)
@bp.output(TokensOut)
@bp.doc(security="refreshToken")
def refresh() -> dict[str, Any]:
    """Exchange a refresh token (sent as Bearer) for a new access token"""
    identity = current_identity()
    user = service.get_user(db_session=current_session(), user_id=identity.user_id or "")
    if not user.is_active:
        raise service.invalid_credentials()
    return access_token_for(user)


@bp.post("/logout")
@bp.auth_required(user_auth)
@bp.input(LogoutIn, arg_name="body")
@bp.output({}, status_code=204)
def logout(body: dict[str, Any]) -> tuple[str, int]:
    """Revoke this access token and, when given, the refresh token"""
    refresh_claims = None
    if body.get("refresh_token"):
        try:
            refresh_claims = decode_token(body["refresh_token"])
        except (jwt.PyJWTError, JWTExtendedException):
            refresh_claims = None  # an unusable token has nothing left to revoke
    service.logout(
        db_session=current_session(),
        identity=current_identity(),
        refresh_claims=refresh_claims
        if refresh_claims and refresh_claims.get("type") == "refresh"
        else None,
        publisher=publisher(),
    )
    return "", 204


@bp.get("/me")
@bp.auth_required(user_auth)
@bp.output(UserOut)
def me() -> Any:
    """The logged-in user"""
    identity = current_identity()
    return service.get_user(db_session=current_session(), user_id=identity.user_id or "")


@bp.post("/me/password")
@bp.auth_required(user_auth)
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output(TokensOut)
def change_password(body: dict[str, Any]) -> dict[str, Any]:
    """Change one's own password; every older token stops working"""
    identity = current_identity()
    session = current_session()
    user = service.change_password(
        db_session=session,
        user=service.get_user(db_session=session, user_id=identity.user_id or ""),
        policy=login_policy(),
        current_password=body["current_password"],
        new_password=body["new_password"],
        publisher=publisher(),
        identity=identity,
    )
    return tokens_for(user)


@bp.get("/users")
@bp.auth_required(user_auth, roles=MANAGERS)
@paginated(bp, service.USERS, item=UserOut)
def list_users() -> sa.Select[Any]:
    """List users (admin); a manager, the drivers' accounts only

    An admin sees every user. A manager sees only the users whose role is `driver`
    (to find the account a new driver record names, `POST /api/v1/fleet/drivers`):
    the role filter is forced to `driver`, so `?role=manager` or `?role=admin` answers
    an empty page. Creating, changing and deactivating users stay admin-only.
    """
    return service.users_seen_by(current_identity())


@bp.post("/users")
@bp.auth_required(user_auth, roles=ADMINS)
@bp.input(UserCreateIn, arg_name="body")
@bp.output(UserCreatedOut, status_code=201)
def create_user(body: dict[str, Any]) -> Any:
    """Create a user (admin); without a password one is generated and shown once"""
    identity = current_identity()
    user, one_time = service.create_user(db_session=current_session(), identity=identity, **body)
    result = {name: getattr(user, name) for name in UserOut().fields}
    if one_time:
        result["one_time_password"] = one_time
    return result


@bp.get("/users/<uuid:user_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.output(UserOut)
def get_user(user_id: uuid.UUID) -> Any:
    """One user (admin); a manager, a driver's account only

    For a manager, a user whose role is not `driver` is 404 `user_not_found`, as an
    unknown one is.
    """
    return service.get_user_seen_by(
        db_session=current_session(), identity=current_identity(), user_id=user_id
    )


command_route(
    bp,
    "PATCH",
    "/users/<uuid:user_id>",
    service.update_user,
    body=UserUpdateIn,
    body_as="changes",
    item=UserOut,
    roles=ADMINS,
    uses=PUBLISHER,
    summary="Change a user's name, email, role or active state (admin)",
)
command_route(
    bp,
    "DELETE",
    "/users/<uuid:user_id>",
    functools.partial(service.update_user, changes={"is_active": False}),
    item=UserOut,
    roles=ADMINS,
    uses=PUBLISHER,
    endpoint="deactivate_user",
    summary="Deactivate a user (admin); their history is kept",
)
