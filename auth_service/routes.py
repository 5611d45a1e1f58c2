"""HTTP routes of the auth service: validate, call the domain, serialize."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from auth_service import service
from auth_service.schemas import (
    LoginIn,
    PasswordChangeIn,
    TokensOut,
    UserCreatedOut,
    UserCreateIn,
    UserOut,
)
from auth_service.tokens import access_token_for, tokens_for
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", tag="Auth")


@bp.post("/login")
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Log in with username and password", security=[])
def login(body: dict[str, Any]) -> dict[str, Any]:
    user = service.authenticate(
        db_session=current_session(), username=body["username"], password=body["password"]
    )
    return tokens_for(user)


@bp.post("/refresh")
@bp.output(TokensOut)
@bp.doc(summary="Exchange a refresh token (as Bearer) for a new access token")
def refresh() -> dict[str, Any]:
    identity = require_user()
    user = service.get_user(db_session=current_session(), user_id=identity.user_id)
    if not user.is_active:
        raise service.invalid_credentials()
    return access_token_for(user)


@bp.get("/me")
@bp.output(UserOut)
@bp.doc(summary="The logged-in user")
def me() -> Any:
    identity = require_user()
    return service.get_user(db_session=current_session(), user_id=identity.user_id)


@bp.post("/me/password")
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Change one's own password; returns fresh tokens")
def change_password(body: dict[str, Any]) -> dict[str, Any]:
    identity = require_user()
    session = current_session()
    user = service.get_user(db_session=session, user_id=identity.user_id)
    service.change_password(
        db_session=session,
        user=user,
        current_password=body["current_password"],
        new_password=body["new_password"],
    )
    return tokens_for(user)


@bp.post("/users")
@bp.input(UserCreateIn, arg_name="body")
@bp.output(UserCreatedOut, status_code=201)
@bp.doc(summary="Create a user (admin)")
def create_user(body: dict[str, Any]) -> Any:
    require_user("admin")
    user, one_time = service.create_user(db_session=current_session(), **body)
    result = {name: getattr(user, name) for name in UserOut().fields}
    if one_time:
        result["one_time_password"] = one_time
    return result


@bp.get("/users/<uuid:user_id>")
@bp.output(UserOut)
@bp.doc(summary="One user (admin)")
def get_user(user_id: Any) -> Any:
    require_user("admin")
    return service.get_user(db_session=current_session(), user_id=user_id)
