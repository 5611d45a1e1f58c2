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
read before a newer change, never lowers one. Revoked tokens are kept without
a TTL (and forgotten by the scripts once expired), so memory pressure cannot
evict one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis
from redis.commands.core import Script

# Shared by both scripts. Token keys carry no TTL on purpose: under memory
# pressure Redis evicts keys that have one first (compose runs volatile-ttl), and
# an evicted revocation would silently come back to life. Instead an index
# (a sorted set by expiry) lets each script forget a bounded batch of tokens
# that have expired anyway. Keys are built from ARGV prefixes: one Redis, no cluster.
_LUA_HELPERS = """
local function forget_expired(index, jti_prefix, now)
  local expired = redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, 100)
  for _, jti in ipairs(expired) do
    redis.call('DEL', jti_prefix .. jti)
    redis.call('ZREM', index, jti)
  end
end
local function revoke(index, jti_prefix, jti, expires_at)
  redis.call('SET', jti_prefix .. jti, 1)
  redis.call('ZADD', index, expires_at, jti)
end
local function raise_generation(key, generation)
  if generation > tonumber(redis.call('GET', key) or '0') then
    redis.call('SET', key, generation)
  end
end
"""

# One change and, when Redis held every change before it, the version it brings
# Redis to. KEYS: version, token index. ARGV: now, token prefix, kind ("token",
# "generation" or "none" for a token that has expired anyway), the token id or
# the generation key, expiry or generation, version. Returns the version Redis
# is complete up to afterwards (-1: not loaded).
_PUBLISH = (
    _LUA_HELPERS
    + """
local now, jti_prefix, kind = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local subject, value, version = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
forget_expired(KEYS[2], jti_prefix, now)
if kind == 'token' then
  revoke(KEYS[2], jti_prefix, subject, value)
elseif kind == 'generation' then
  raise_generation(subject, value)
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
)

# The whole state, then the version it is complete up to (never lowered).
# KEYS: version, token index. ARGV: now, token prefix, version, number of
# tokens, then (token id, expiry) pairs, then (generation key, generation) pairs.
_LOAD = (
    _LUA_HELPERS
    + """
local now, jti_prefix = tonumber(ARGV[1]), ARGV[2]
local version, tokens = tonumber(ARGV[3]), tonumber(ARGV[4])
forget_expired(KEYS[2], jti_prefix, now)
local i = 5
for _ = 1, tokens do
  revoke(KEYS[2], jti_prefix, ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end
while i < #ARGV do
  raise_generation(ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end
if version > tonumber(redis.call('GET', KEYS[1]) or '-1') then
  redis.call('SET', KEYS[1], version)
end
return tonumber(redis.call('GET', KEYS[1]))
"""
)


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
        self.index_key = f"{self.prefix}:expiries"
        self.jti_prefix = f"{self.prefix}:jti:"
        self._publish = client.register_script(_PUBLISH)
        self._load = client.register_script(_LOAD)

    def _jti_key(self, jti: str) -> str:
        return self.jti_prefix + jti

    def _generation_key(self, user_id: str) -> str:
        return f"{self.prefix}:gen:{user_id}"

    def _run(self, script: Script, *args: str | int) -> int:
        keys = [self.version_key, self.index_key]
        return int(script(keys, [int(time.time()), self.jti_prefix, *args]))

    def publish_token(self, jti: str, expires_at: int, version: int) -> int:
        """Mark one token revoked until it would have expired anyway (revocation ``version``).

        Returns the version Redis is complete up to afterwards (-1 when it holds no state).
        """
        kind = "token" if expires_at > time.time() else "none"
        return self._run(self._publish, kind, jti, expires_at, version)

    def publish_generation(self, user_id: str, generation: int, version: int) -> int:
        """Raise one user's token generation (revocation ``version``); see publish_token."""
        return self._run(
            self._publish, "generation", self._generation_key(user_id), generation, version
        )

    def load(
        self, tokens: Iterable[tuple[str, int]], generations: Mapping[str, int], version: int
    ) -> int:
        """Write the whole state, complete up to ``version``, at once; returns Redis's version."""
        now = time.time()
        live = [(jti, expires_at) for jti, expires_at in tokens if expires_at > now]
        args: list[str | int] = [version, len(live)]
        for jti, expires_at in live:
            args += [jti, expires_at]
        for user_id, generation in generations.items():
            args += [self._generation_key(user_id), generation]
        return self._run(self._load, *args)

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
