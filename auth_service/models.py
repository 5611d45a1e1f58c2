"""Tables of the auth schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.roles import ROLE_NAMES


class Base(DeclarativeBase):
    metadata = schema_metadata("auth")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(f"role IN {ROLE_NAMES}", name="role"),
        # Unique as a person reads it: auth_service.usernames.canonical_username.
        sa.Index("uq_users_username_canonical", "username_canonical", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(sa.String(64))
    # NFKC + case folding can lengthen a name (``ß`` -> ``ss``): no length cap here.
    username_canonical: Mapped[str] = mapped_column(sa.Text)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    must_change_password: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    password_changed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Bumped on password change, role change and deactivation: every token
    # carries the generation it was issued in, and older ones stop working.
    token_generation: Mapped[int] = mapped_column(default=0, server_default="0")


class LoginThrottle(Base):
    """One login counter: failures or successes of an address, an account, or both.

    Keyed by the canonical username whether or not such a user exists, so that
    unknown usernames are counted exactly like known ones. ``blocked_until`` is
    a lockout (account + address) or the next allowed attempt (account
    slow-down). Rows past ``expires_at`` hold nothing and are purged.
    """

    __tablename__ = "login_throttles"
    __table_args__ = (sa.Index("ix_login_throttles_expires_at", "expires_at"),)

    scope: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    username: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    address: Mapped[str] = mapped_column(sa.String(45), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    count: Mapped[int]
    blocked_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class RevokedToken(Base):
    """A single token revoked before its expiry (logout). Kept until it would have expired."""

    __tablename__ = "revoked_tokens"
    __table_args__ = (sa.Index("ix_revoked_tokens_expires_at", "expires_at"),)

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class AuditEvent(Base):
    """Who did what to whom, from where: logins, lockouts, password and role changes."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_at_id", "at", "id"),
        sa.Index("ix_audit_events_target_id", "target_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp()
    )
    action: Mapped[str] = mapped_column(sa.String(40))
    actor_id: Mapped[uuid.UUID | None]
    target_id: Mapped[uuid.UUID | None]
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    details: Mapped[dict[str, Any]] = mapped_column(
        postgresql.JSONB, default=dict, server_default=sa.text("'{}'::jsonb")
    )


class RevocationVersion(Base):
    """One row counting the revocations PostgreSQL has committed.

    Every revocation (logout, password change, role change, deactivation)
    raises it by one in its own transaction; the row lock orders them, so the
    numbers are gapless and in commit order. Redis records the version it is
    complete up to, and the gateway compares the two to know when the Redis
    fast path has missed something.
    """

    __tablename__ = "revocation_version"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(
        sa.SmallInteger, primary_key=True, autoincrement=False, default=1
    )
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
