"""Users, passwords and logins: the rules of the auth service.

Functions take keyword arguments and an explicit session; they know nothing of
Flask requests.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from auth_service.models import ROLES, User
from auth_service.passwords import (
    DUMMY_HASH,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from shared.errors import APIError


def invalid_credentials() -> APIError:
    return APIError(401, "invalid_credentials", "Invalid username or password")


def find_user_by_username(*, db_session: Session, username: str) -> User | None:
    return db_session.scalar(
        sa.select(User).where(sa.func.lower(User.username) == username.strip().lower())
    )


def get_user(*, db_session: Session, user_id: str | uuid.UUID) -> User:
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise APIError(404, "user_not_found", "No such user") from None
    user = db_session.get(User, key)
    if user is None:
        raise APIError(404, "user_not_found", "No such user")
    return user


def generate_password() -> str:
    """A one-time password that passes the policy (about 95 bits)."""
    return secrets.token_urlsafe(12)


def create_user(
    *,
    db_session: Session,
    username: str,
    full_name: str,
    role: str,
    email: str | None = None,
    password: str | None = None,
) -> tuple[User, str | None]:
    """Create a user who must change the password at first login.

    Returns the user and, when no password was given, the generated one-time
    password (to be shown once and never stored in clear).
    """
    if role not in ROLES:
        raise APIError(422, details={"role": [f"must be one of {', '.join(ROLES)}"]})
    one_time = None
    if password is None:
        password = one_time = generate_password()
    check_password_policy(password, username=username)
    if find_user_by_username(db_session=db_session, username=username) is not None:
        raise APIError(409, "username_taken", "That username is already in use")
    user = User(
        username=username.strip(),
        full_name=full_name.strip(),
        email=email,
        role=role,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    db_session.add(user)
    try:
        db_session.commit()
    except sa.exc.IntegrityError:
        # Lost a race with another request creating the same username.
        db_session.rollback()
        raise APIError(409, "username_taken", "That username is already in use") from None
    return user, one_time


def authenticate(*, db_session: Session, username: str, password: str) -> User:
    """Return the user whose credentials these are, or raise 401 invalid_credentials.

    Unknown users, inactive users and wrong passwords look the same to the
    caller, in body and in time.
    """
    user = find_user_by_username(db_session=db_session, username=username)
    if user is None:
        verify_password(DUMMY_HASH, password)
        raise invalid_credentials()
    if not verify_password(user.password_hash, password) or not user.is_active:
        raise invalid_credentials()
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db_session.commit()
    return user


def change_password(
    *, db_session: Session, user: User, current_password: str, new_password: str
) -> User:
    """Replace the user's password after checking the current one and the policy."""
    if not verify_password(user.password_hash, current_password):
        raise APIError(403, "invalid_current_password", "The current password is not correct")
    if new_password == current_password:
        raise APIError(
            422,
            "weak_password",
            "The new password must differ from the current one",
            details={"new_password": ["must differ from the current password"]},
        )
    check_password_policy(new_password, username=user.username)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = datetime.now(UTC)
    db_session.commit()
    return user


def ensure_admin(*, db_session: Session, username: str, password: str | None) -> str | None:
    """Create the first admin unless one exists; return its one-time password if generated."""
    exists = db_session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.role == "admin")
    )
    if exists:
        return None
    _, one_time = create_user(
        db_session=db_session,
        username=username,
        full_name="Administrator",
        role="admin",
        password=password,
    )
    return one_time if password is None else None
