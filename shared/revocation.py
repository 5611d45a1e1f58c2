"""The fast path of token revocation, in Redis.

PostgreSQL (the auth schema) is the source of truth: revoked token ids, a
per-user *token generation* that password changes, role changes and
deactivations bump, so that every token issued before stops working, and a
*revocation version* that every revocation raises by one in its own
transaction. The auth service writes each change here as it commits it; the
gateway reads here on every request, with one round trip.

Redis also keeps the version it is complete up to. A change raises it only
when Redis already held every change before it, so a publish that failed (a
stalled or restarted Redis) leaves Redis behind PostgreSQL, and the gateway,
which learns PostgreSQL's version from the auth service, knows it must not
believe Redis until it has reloaded the whole state. Redis keeps nothing on
disk: when the version key is missing (flushed, restarted) the state is
reloaded before the cache is believed again.

Generations only ever go up here: a publish that arrives late, or a reload
read before a newer change, never lowers one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

# One change and, when Redis held every change before it, the version it brings
# Redis to. KEYS: version, the changed key. ARGV: kind ("token", "generation" or
# "none" for a token that has expired anyway), expiry or generation, version.
# Returns the version Redis is complete up to afterwards (-1: not loaded).
_PUBLISH = """
local kind, value, version = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if kind == 'token' then
  redis.call('SET', KEYS[2], 1, 'EXAT', value)
elseif kind == 'generation' then
  if value > tonumber(redis.call('GET', KEYS[2]) or '0') then
    redis.call('SET', KEYS[2], value)
  end
end
local complete = redis.call('GET', KEYS[1])
if not complete then
  return -1
end
complete = tonumber(complete)
if complete == version - 1 then
  redis.call('SET', KEYS[1], version)
  return version
end
return complete
"""

# The whole state, then the version it is complete up to (never lowered).
# KEYS: version, token keys, generation keys. ARGV: version, number of tokens,
# token expiries, generations.
_LOAD = """
local tokens = tonumber(ARGV[2])
for i = 1, tokens do
  redis.call('SET', KEYS[1 + i], 1, 'EXAT', ARGV[2 + i])
end
for i = tokens + 1, #KEYS - 1 do
  local generation = tonumber(ARGV[2 + i])
  if generation > tonumber(redis.call('GET', KEYS[1 + i]) or '0') then
    redis.call('SET', KEYS[1 + i], generation)
  end
end
local version = tonumber(ARGV[1])
if version > tonumber(redis.call('GET', KEYS[1]) or '-1') then
  redis.call('SET', KEYS[1], version)
end
return tonumber(redis.call('GET', KEYS[1]))
"""


@dataclass(frozen=True)
class TokenStatus:
    # The revocation version Redis is complete up to; None when Redis does not
    # hold the state at all (flushed or restarted).
    version: int | None
    jti_revoked: bool
    generation: int

    @property
    def loaded(self) -> bool:
        return self.version is not None


class RevocationCache:
    """Reads and writes revocation state under ``<prefix>:rev:``."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}:rev"
        self.version_key = f"{self.prefix}:version"
        self._publish = client.register_script(_PUBLISH)
        self._load = client.register_script(_LOAD)

    def _jti_key(self, jti: str) -> str:
        return f"{self.prefix}:jti:{jti}"

    def _generation_key(self, user_id: str) -> str:
        return f"{self.prefix}:gen:{user_id}"

    def publish_token(self, jti: str, expires_at: int, version: int) -> int:
        """Mark one token revoked until it would have expired anyway (revocation ``version``).

        Returns the version Redis is complete up to afterwards (-1 when it holds no state).
        """
        kind = "token" if expires_at > time.time() else "none"
        return int(
            self._publish([self.version_key, self._jti_key(jti)], [kind, expires_at, version])
        )

    def publish_generation(self, user_id: str, generation: int, version: int) -> int:
        """Raise one user's token generation (revocation ``version``); see publish_token."""
        keys = [self.version_key, self._generation_key(user_id)]
        return int(self._publish(keys, ["generation", generation, version]))

    def load(
        self, tokens: Iterable[tuple[str, int]], generations: Mapping[str, int], version: int
    ) -> int:
        """Write the whole state, complete up to ``version``, at once; returns Redis's version."""
        now = time.time()
        live = [(jti, expires_at) for jti, expires_at in tokens if expires_at > now]
        keys = [self.version_key]
        keys += [self._jti_key(jti) for jti, _ in live]
        keys += [self._generation_key(user_id) for user_id in generations]
        args: list[int] = [version, len(live)]
        args += [expires_at for _, expires_at in live]
        args += list(generations.values())
        return int(self._load(keys, args))

    def version(self) -> int | None:
        """The revocation version Redis is complete up to, or None when it holds no state."""
        value = self.client.get(self.version_key)
        return None if value is None else int(value)  # type: ignore[arg-type]

    def status(self, jti: str, user_id: str) -> TokenStatus:
        """Everything the gateway needs about one token, in one round trip."""
        values: list[bytes | None] = self.client.mget(  # type: ignore[assignment]
            [self.version_key, self._jti_key(jti), self._generation_key(user_id)]
        )
        version, revoked, generation = values
        return TokenStatus(
            version=None if version is None else int(version),
            jti_revoked=revoked is not None,
            generation=int(generation or 0),
        )
