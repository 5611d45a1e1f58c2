"""Users, passwords, logins and revocation: the rules of the auth service.

Functions take keyword arguments and an explicit session; they know nothing of
Flask requests. Each one that changes something records it in the audit trail
in the same transaction.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.orm import Session

from auth_service import audit, revocation, throttle
from auth_service.models import User
from auth_service.passwords import (
    DUMMY_HASH,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from auth_service.usernames import canonical_username, check_new_username
from shared.addresses import limit_key
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, equals, text
from shared.roles import ROLE_NAMES, Role


def invalid_credentials() -> APIError:
    return APIError(401, "invalid_credentials", "Invalid username or password")


def _now() -> datetime:
    return datetime.now(UTC)


def find_user_by_username(*, db_session: Session, username: str) -> User | None:
    """The user whose username reads as ``username`` (compared in canonical form)."""
    canonical = canonical_username(username)
    return db_session.scalar(sa.select(User).where(User.username_canonical == canonical))


def get_user(*, db_session: Session, user_id: str | uuid.UUID, for_update: bool = False) -> User:
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise APIError(404, "user_not_found", "No such user") from None
    # populate_existing: a locking read must see the row as it is now, not a
    # copy the session loaded earlier.
    user = db_session.get(User, key, with_for_update=for_update, populate_existing=for_update)
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
    identity: Identity | None = None,
) -> tuple[User, str | None]:
    """Create a user who must change the password at first login.

    Returns the user and, when no password was given, the generated one-time
    password (to be shown once and never stored in clear).
    """
    if role not in ROLE_NAMES:
        raise APIError(422, details={"role": [f"must be one of {', '.join(ROLE_NAMES)}"]})
    one_time = None
    if password is None:
        password = one_time = generate_password()
    username = check_new_username(username)
    check_password_policy(password, username=username)
    if find_user_by_username(db_session=db_session, username=username) is not None:
        raise APIError(409, "username_taken", "That username is already in use")
    user = User(
        id=uuid.uuid4(),
        username=username,
        username_canonical=canonical_username(username),
        full_name=full_name.strip(),
        email=email,
        role=role,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    db_session.add(user)
    audit.record(db_session, action="user_created", identity=identity, target_id=user.id, role=role)
    # A race with another request creating the same username loses at the
    # unique index (auth_service.constraints answers).
    db_session.commit()
    return user, one_time


def authenticate(
    *,
    db_session: Session,
    policy: throttle.LoginPolicy,
    username: str,
    password: str,
    identity: Identity | None = None,
) -> User:
    """Return the user whose credentials these are, or raise.

    The attempt is counted before the password is hashed (auth_service.throttle):
    over a limit it is refused with 429 and never hashed. Unknown users,
    inactive users and wrong passwords look the same to the caller (401
    invalid_credentials) in body and in time, and go through the same counters,
    lockouts and audit.
    """
    canonical = canonical_username(username)
    address = limit_key((identity.client_ip if identity else None) or "")
    audited = {"username": canonical[:64]}
    user = find_user_by_username(db_session=db_session, username=canonical)
    target = user.id if user else None
    reservation = _count_attempt(
        db_session,
        policy=policy,
        address=address,
        account=canonical,
        refused_as="login_refused",
        identity=identity,
        target_id=target,
        actor_id=target,
        **audited,
    )
    # The dummy hash costs what a real one does: unknown users take as long.
    matches = verify_password(user.password_hash if user else DUMMY_HASH, password)
    succeeded = user is not None and matches and user.is_active
    locked = throttle.settle_attempt(
        db_session=db_session, reservation=reservation, succeeded=succeeded, now=_now()
    )
    if user is None or not succeeded:
        reason = "unknown_user" if user is None else "wrong_password" if not matches else "inactive"
        _refuse_check(
            db_session,
            invalid_credentials(),
            action="login_failed",
            locked=locked,
            identity=identity,
            target_id=target,
            actor_id=target,
            address=address,
            reason=reason,
            **audited,
        )
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(db_session, action="login", identity=identity, target_id=user.id, actor_id=user.id)
    db_session.commit()
    return user


def _count_attempt(
    db_session: Session,
    *,
    policy: throttle.LoginPolicy,
    address: str,
    account: str,
    refused_as: str,
    identity: Identity | None,
    target_id: Any,
    actor_id: Any = None,
    **details: Any,
) -> throttle.Reservation:
    """Count a password check of ``account`` (canonical username) before it is hashed.

    Over a limit the refusal is audited as ``refused_as`` and committed before
    the 429 propagates: it is on record although the request fails.
    """
    try:
        return throttle.reserve_attempt(
            db_session=db_session, policy=policy, username=account, address=address, now=_now()
        )
    except APIError as refusal:
        audit.record(
            db_session,
            action=refused_as,
            identity=identity,
            target_id=target_id,
            actor_id=actor_id,
            reason=refusal.code,
            **details,
        )
        db_session.commit()
        raise


def _check_new_password(user: User, current_password: str, new_password: str) -> None:
    """422 weak_password unless ``new_password`` may replace ``current_password``."""
    if new_password == current_password:
        raise APIError(
            422,
            "weak_password",
            "The new password must differ from the current one",
            details={"new_password": ["must differ from the current password"]},
        )
    check_password_policy(new_password, username=user.username, field="new_password")


def _refuse_check(
    db_session: Session,
    error: APIError,
    *,
    action: str,
    locked: bool,
    identity: Identity | None,
    target_id: Any,
    address: str,
    username: str,
    actor_id: Any = None,
    **details: Any,
) -> NoReturn:
    """Audit a failed password check as ``action`` (and the lock it caused), commit, raise."""
    audit.record(
        db_session,
        action=action,
        identity=identity,
        target_id=target_id,
        actor_id=actor_id,
        username=username,
        **details,
    )
    if locked:
        audit.record(
            db_session,
            action="account_locked",
            identity=identity,
            target_id=target_id,
            actor_id=actor_id,
            address=address,
            minutes=int(throttle.LOCK_FOR.total_seconds() // 60),
            username=username,
        )
    db_session.commit()
    raise error


def unlock_user(*, db_session: Session, username: str, identity: Identity | None = None) -> User:
    """Clear every lockout and slow-down of an account, from every address (audited)."""
    user = find_user_by_username(db_session=db_session, username=username)
    if user is None:
        raise APIError(404, "user_not_found", "No such user")
    cleared = throttle.clear_account(db_session=db_session, username=user.username_canonical)
    audit.record(
        db_session,
        action="account_unlocked",
        identity=identity,
        target_id=user.id,
        counters=cleared,
    )
    db_session.commit()
    return user


def change_password(
    *,
    db_session: Session,
    user: User,
    current_password: str,
    new_password: str,
    policy: throttle.LoginPolicy = throttle.DEFAULT_POLICY,
    publisher: revocation.RevocationPublisher | None = None,
    identity: Identity | None = None,
) -> User:
    """Replace the user's password; every token issued before stops working.

    Checking the current password is a login attempt like any other (same
    counters, counted before hashing): a stolen access token must not guess
    the password faster than the login form would let it.
    """
    user_id = user.id
    _check_new_password(user, current_password, new_password)
    address = limit_key((identity.client_ip if identity else None) or "")
    reservation = _count_attempt(
        db_session,
        policy=policy,
        address=address,
        account=user.username_canonical,
        refused_as="password_change_refused",
        identity=identity,
        target_id=user_id,
    )
    # Locked only now: the row lock must not wait on the counters' transaction.
    user = get_user(db_session=db_session, user_id=user_id, for_update=True)
    matches = verify_password(user.password_hash, current_password)
    locked = throttle.settle_attempt(
        db_session=db_session, reservation=reservation, succeeded=matches, now=_now()
    )
    if not matches:
        _refuse_check(
            db_session,
            APIError(403, "invalid_current_password", "The current password is not correct"),
            action="password_change_failed",
            locked=locked,
            identity=identity,
            target_id=user.id,
            address=address,
            username=user.username_canonical[:64],
        )
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = _now()
    version = revocation.bump_generation(user)
    audit.record(db_session, action="password_changed", identity=identity, target_id=user.id)
    db_session.commit()
    if publisher:
        publisher.generation_changed(user, version)
    return user


# Admins see every user; managers only drivers' accounts (users_seen_by).
USERS = Records(
    User,
    not_found=("user_not_found", "No such user"),
    order_by=[User.created_at, User.id],
    filters={
        "role": equals(User.role, choices=ROLE_NAMES),
        "is_active": equals(User.is_active),
        "q": text(
            lambda words: sa.or_(
                User.username.icontains(words, autoescape=True),
                User.full_name.icontains(words, autoescape=True),
                User.email.icontains(words, autoescape=True),
            ),
            max_length=64,
        ),
    },
)


def users_seen_by(identity: Identity) -> sa.Select[Any]:
    """The users ``identity`` may read: every one for an admin, drivers' for a manager.

    A manager registers drivers (a driver record names its user) and so must find
    the accounts of drivers; the accounts of managers and admins stay an admin's
    business. Whatever ``?role=`` a manager asks for, only drivers come back.
    """
    stmt = USERS.select(identity)
    if not identity.is_admin:
        stmt = stmt.where(User.role == Role.DRIVER)
    return stmt


def get_user_seen_by(*, db_session: Session, identity: Identity, user_id: uuid.UUID) -> User:
    """The user if ``identity`` may read them (users_seen_by), else 404 as if unknown."""
    user = db_session.scalar(users_seen_by(identity).where(User.id == user_id))
    if user is None:
        raise APIError(404, *USERS.not_found)
    return user


def _ensure_another_admin(db_session: Session, user: User) -> None:
    """409 unless an active admin other than ``user`` remains (rows locked while checking)."""
    admins = db_session.scalars(
        sa.select(User.id)
        .where(User.role == Role.ADMIN, User.is_active.is_(True))
        .with_for_update()
    ).all()
    if not [admin for admin in admins if admin != user.id]:
        raise APIError(409, "last_admin", "The last active admin cannot be demoted or deactivated")


def update_user(
    *,
    db_session: Session,
    identity: Identity,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    publisher: revocation.RevocationPublisher | None = None,
) -> User:
    """Apply an admin's changes to a user.

    Nobody changes their own role or active state. The last active admin
    cannot lose the role or be deactivated. Role changes and deactivation end
    every session of the user at once.
    """
    user = get_user(db_session=db_session, user_id=user_id, for_update=True)
    is_self = str(user.id) == identity.user_id
    new_role = changes.get("role", user.role)
    new_active = changes.get("is_active", user.is_active)
    if is_self and (new_role != user.role or new_active != user.is_active):
        raise APIError(403, "cannot_change_own_access", "You cannot change your own role or status")
    if user.role == Role.ADMIN and user.is_active and (new_role != Role.ADMIN or not new_active):
        _ensure_another_admin(db_session, user)
    ends_sessions = False
    if new_role != user.role:
        audit.record(
            db_session,
            action="role_changed",
            identity=identity,
            target_id=user.id,
            old=user.role,
            new=new_role,
        )
        user.role = new_role
        ends_sessions = True
    if new_active != user.is_active:
        audit.record(
            db_session,
            action="deactivated" if not new_active else "reactivated",
            identity=identity,
            target_id=user.id,
        )
        user.is_active = new_active
        ends_sessions = ends_sessions or not new_active
    for name in ("full_name", "email"):
        if name in changes:
            setattr(user, name, changes[name])
    if ends_sessions:
        version = revocation.bump_generation(user)
    db_session.commit()
    if ends_sessions and publisher:
        publisher.generation_changed(user, version)
    return user


def logout(
    *,
    db_session: Session,
    identity: Identity,
    refresh_claims: dict[str, Any] | None,
    publisher: revocation.RevocationPublisher | None = None,
) -> None:
    """Revoke the access token of this request and, if given, the user's refresh token."""
    revoked: list[tuple[str, int]] = []
    if identity.token_jti and identity.token_exp:
        revoked.append((identity.token_jti, identity.token_exp))
    if refresh_claims and refresh_claims.get("sub") == identity.user_id:
        revoked.append((str(refresh_claims["jti"]), int(refresh_claims["exp"])))
    versions = [
        revocation.revoke_token(
            db_session, jti=jti, user_id=identity.user_id or "", expires_at=expires_at
        )
        for jti, expires_at in revoked
    ]
    revocation.purge_expired(db_session)
    audit.record(db_session, action="logout", identity=identity, target_id=identity.user_id)
    db_session.commit()
    if publisher:
        for (jti, expires_at), version in zip(revoked, versions, strict=True):
            publisher.token_revoked(jti, expires_at, version)


def ensure_admin(*, db_session: Session, username: str, password: str | None) -> str | None:
    """Create the first admin unless one exists; return its one-time password if generated."""
    exists = db_session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.role == Role.ADMIN)
    )
    if exists:
        return None
    _, one_time = create_user(
        db_session=db_session,
        username=username,
        full_name="Administrator",
        role=Role.ADMIN,
        password=password,
    )
    return one_time if password is None else None
