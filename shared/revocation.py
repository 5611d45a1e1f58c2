"""The fast path of token revocation, in Redis.

PostgreSQL (the auth schema) is the source of truth: revoked token ids, and a
per-user *token generation* that password changes, role changes and
deactivations bump, so that every token issued before stops working. The auth
service writes each change here as it commits it; the gateway reads here on
every request, with one round trip.

Redis keeps nothing on disk. A marker key says the cache holds the full state;
when it is missing (Redis flushed or restarted) the gateway reloads the state
from the auth service before believing the cache again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class TokenStatus:
    loaded: bool
    jti_revoked: bool
    generation: int


class RevocationCache:
    """Reads and writes revocation state under ``<prefix>:rev:``."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}:rev"
        self.marker = f"{self.prefix}:loaded"

    def _jti_key(self, jti: str) -> str:
        return f"{self.prefix}:jti:{jti}"

    def _generation_key(self, user_id: str) -> str:
        return f"{self.prefix}:gen:{user_id}"

    def revoke_token(self, jti: str, expires_at: int) -> None:
        """Mark one token revoked until it would have expired anyway."""
        if expires_at > time.time():
            self.client.set(self._jti_key(jti), 1, exat=expires_at)

    def set_generation(self, user_id: str, generation: int) -> None:
        self.client.set(self._generation_key(user_id), generation)

    def load(self, tokens: Iterable[tuple[str, int]], generations: Mapping[str, int]) -> None:
        """Write the whole state, then the marker that says it is complete."""
        now = time.time()
        with self.client.pipeline(transaction=False) as pipe:
            for jti, expires_at in tokens:
                if expires_at > now:
                    pipe.set(self._jti_key(jti), 1, exat=expires_at)
            for user_id, generation in generations.items():
                pipe.set(self._generation_key(user_id), generation)
            pipe.set(self.marker, 1)
            pipe.execute()

    def status(self, jti: str, user_id: str) -> TokenStatus:
        """Everything the gateway needs about one token, in one round trip."""
        values: list[bytes | None] = self.client.mget(  # type: ignore[assignment]
            [self.marker, self._jti_key(jti), self._generation_key(user_id)]
        )
        loaded, revoked, generation = values
        return TokenStatus(
            loaded=loaded is not None,
            jti_revoked=revoked is not None,
            generation=int(generation or 0),
        )
