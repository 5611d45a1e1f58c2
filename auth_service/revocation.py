"""Revoking tokens: recorded in PostgreSQL, then pushed to the Redis fast path."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from auth_service.models import RevokedToken, User
from shared.revocation import RevocationCache

logger = logging.getLogger("frota.auth.revocation")


def revoke_token(
    db_session: Session, *, jti: str, user_id: str | uuid.UUID, expires_at: int
) -> None:
    """Record one token as revoked (idempotent); the caller commits."""
    stmt = (
        sa.dialects.postgresql.insert(RevokedToken)
        .values(
            jti=jti,
            user_id=uuid.UUID(str(user_id)),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )
        .on_conflict_do_nothing(index_elements=["jti"])
    )
    db_session.execute(stmt)


def bump_generation(user: User) -> None:
    """Invalidate every token issued to ``user`` so far; the caller commits."""
    user.token_generation += 1


def purge_expired(db_session: Session) -> int:
    """Forget revocations of tokens that have expired anyway."""
    result = db_session.execute(
        sa.delete(RevokedToken).where(RevokedToken.expires_at < sa.func.now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def snapshot(db_session: Session) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """The whole revocation state, for the gateway to reload its cache from."""
    tokens = [
        (jti, int(expires_at.timestamp()))
        for jti, expires_at in db_session.execute(
            sa.select(RevokedToken.jti, RevokedToken.expires_at).where(
                RevokedToken.expires_at > sa.func.now()
            )
        )
    ]
    generations = {
        str(user_id): generation
        for user_id, generation in db_session.execute(
            sa.select(User.id, User.token_generation).where(User.token_generation > 0)
        )
    }
    return tokens, generations


def is_revoked(db_session: Session, *, jti: str, user_id: str, generation: int) -> bool:
    """The source-of-truth answer for one token (used when Redis is unreachable)."""
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return True
    current = db_session.scalar(sa.select(User.token_generation).where(User.id == key))
    if current is None or generation < current:
        return True
    return db_session.get(RevokedToken, jti) is not None


class RevocationPublisher:
    """Pushes committed revocations to Redis so the gateway sees them at once."""

    def __init__(self, cache: RevocationCache) -> None:
        self.cache = cache

    def token_revoked(self, jti: str, expires_at: int) -> None:
        self._safely(self.cache.revoke_token, jti, expires_at)

    def generation_changed(self, user: User) -> None:
        self._safely(self.cache.set_generation, str(user.id), user.token_generation)

    def _safely(self, write: Callable[..., None], *args: object) -> None:
        try:
            write(*args)
        except redis.RedisError:
            # PostgreSQL has it; the gateway falls back to asking us while its
            # Redis is unreachable, and reloads everything when Redis restarts.
            logger.exception("could not publish a revocation to Redis")
