"""Request and response shapes of the auth API (validation and OpenAPI in one)."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Email, Integer, String
from apiflask.validators import Length, OneOf

from auth_service.models import User
from shared.roles import ROLE_NAMES
from shared.schemas import Body, ModelSchema, Name, Text


class LoginIn(Body):
    username = Text(required=True, validate=Length(1, 64))
    password = Text(required=True, validate=Length(1, 1024))


class TokensOut(Schema):
    access_token = String(required=True)
    refresh_token = Text()
    token_type = String(required=True)
    expires_in = Integer(required=True)
    must_change_password = Boolean(required=True)


class LogoutIn(Body):
    refresh_token = Text(load_default=None, validate=Length(1, 4096))


class PasswordChangeIn(Body):
    current_password = Text(required=True, validate=Length(1, 1024))
    new_password = Text(required=True, validate=Length(1, 1024))


class UserOut(ModelSchema):
    class Meta:
        model = User
        # Secrets and bookkeeping of the login: never in an answer.
        exclude = ("password_hash", "username_canonical", "token_generation", "password_changed_at")


class UserCreateIn(Body):
    username = Text(required=True, validate=Length(3, 64))
    full_name = Name(required=True, validate=Length(1, 200))
    email = Email(load_default=None, allow_none=True)
    role = String(required=True, validate=OneOf(ROLE_NAMES))
    password = Text(load_default=None, validate=Length(1, 1024))


class UserCreatedOut(UserOut):
    one_time_password = Text()


class UserUpdateIn(Body):
    full_name = Name(validate=Length(1, 200))
    email = Email(allow_none=True)
    role = String(validate=OneOf(ROLE_NAMES))
    is_active = Boolean()
