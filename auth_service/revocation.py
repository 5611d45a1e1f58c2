"""Revoking tokens: recorded in PostgreSQL, then pushed to the Redis fast path.

Every revocation also raises PostgreSQL's revocation version by one, in the
same transaction (``auth.revocation_version``, one row: its lock orders the
revocations, so versions are gapless and in commit order). The gateway polls
that version and compares it with the one Redis says it is complete up to, so
a publish that Redis never took is noticed within a poll, not in 24 hours.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from auth_service.models import RevocationVersion, RevokedToken, User
from shared.revocation import RevocationCache

logger = logging.getLogger("frota.auth.revocation")


# A publish that Redis did not take is tried this many times in all, right
# away (a blip), then left to the gateway, which reloads Redis from PostgreSQL
# when it sees Redis behind. Never a background retry that could pile up.
PUBLISH_ATTEMPTS = 2
SKIP_AFTER_FAILURE_SECONDS = 1.0


def _next_version(db_session: Session) -> int:
    """Raise the revocation version; the row stays locked until the caller commits."""
    return int(
        db_session.execute(
            sa.update(RevocationVersion)
            .where(RevocationVersion.id == 1)
            .values(version=RevocationVersion.version + 1)
            .returning(RevocationVersion.version)
        ).scalar_one()
    )


def current_version(db_session: Session) -> int:
    """The version of the last committed revocation."""
    return int(
        db_session.execute(
            sa.select(RevocationVersion.version).where(RevocationVersion.id == 1)
        ).scalar_one()
    )


def revoke_token(
    db_session: Session, *, jti: str, user_id: str | uuid.UUID, expires_at: int
) -> int:
    """Record one token as revoked (idempotent); the caller commits.

    Returns the revocation version of this change, for the publisher.
    """
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
    return _next_version(db_session)


def bump_generation(user: User) -> int:
    """Invalidate every token issued to ``user`` so far; the caller commits.

    Returns the revocation version of this change, for the publisher.
    """
    db_session = object_session(user)
    if db_session is None:
        raise ValueError("bump_generation needs a user loaded in a session")
    user.token_generation += 1
    # The user's row first, then the version row: every revoking transaction
    # takes the two locks in this order (user updates lock the user first), so
    # they cannot deadlock.
    db_session.flush()
    return _next_version(db_session)


def purge_expired(db_session: Session) -> int:
    """Forget revocations of tokens that have expired anyway."""
    result = db_session.execute(
        sa.delete(RevokedToken).where(RevokedToken.expires_at < sa.func.now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def snapshot(db_session: Session) -> tuple[list[tuple[str, int]], dict[str, int], int]:
    """The whole revocation state and the version it is complete up to, for the gateway.

    The version is read first: every revocation up to it has committed, so the
    queries after it see them (they may see later ones too, which is harmless).
    """
    version = current_version(db_session)
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
    return tokens, generations, version


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
        # After Redis failed every attempt, later publishes skip it for a
        # while: a logout revokes two tokens, and a stalled Redis would make
        # each request wait for every attempt of every change.
        self._skip_until = 0.0

    def token_revoked(self, jti: str, expires_at: int, version: int) -> None:
        self._publish(version, self.cache.publish_token, jti, expires_at, version)

    def generation_changed(self, user: User, version: int) -> None:
        self._publish(
            version, self.cache.publish_generation, str(user.id), user.token_generation, version
        )

    def _publish(self, version: int, write: Callable[..., int], *args: object) -> None:
        # Either way, PostgreSQL has it and Redis stays behind PostgreSQL's
        # version: the gateway sees that within a poll, asks us meanwhile and
        # reloads Redis from our snapshot.
        if time.monotonic() < self._skip_until:
            logger.error("revocation %d not published: Redis failed just before", version)
            return
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                write(*args)
                return
            except redis.RedisError as exc:
                failure = exc
                logger.warning("publishing revocation %d failed (try %d)", version, attempt)
        self._skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
        logger.error("revocation %d not published to Redis: %s", version, failure)
