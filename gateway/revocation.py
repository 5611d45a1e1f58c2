"""Is this token revoked? Checked on every authenticated request.

Normal path: one Redis round trip (see shared/revocation.py), whose answer the
worker reuses for half a second. When the Redis cache has lost its state
(flushed, restarted), it is reloaded from the auth service first. When Redis
is unreachable, the gateway asks the auth service, whose answer comes from
PostgreSQL, and reuses each answer for one second — revocation keeps working,
at the cost of one internal call per token and second. If neither can answer,
the request gets 503 rather than a guess. Either way a revocation takes effect
within one second in every worker, as the architecture promises.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from urllib.parse import urlencode

import redis
import urllib3

from gateway import metrics
from gateway.client_auth import ClientIdentity
from shared.config import Settings
from shared.errors import APIError
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from shared.logs import REQUEST_ID_HEADER
from shared.revocation import RevocationCache

logger = logging.getLogger("frota.gateway.revocation")

# How long an answer from the auth service is reused while Redis is down:
# the contract is that revocation takes effect within one second.
FALLBACK_TTL_SECONDS = 1.0
# How long a worker reuses a "not revoked" answer it read from Redis. A busy
# client sends many requests a second with one token; re-reading Redis for
# each was one of the gateway's three Redis round trips per request. Half a
# second keeps well inside the one-second contract.
RECENT_ANSWER_SECONDS = 0.5
# After a Redis failure, go straight to the fallback for this long instead of
# paying a connection timeout on every request.
REDIS_RETRY_AFTER_SECONDS = 1.0
ANSWERS_MAX = 10_000


def revoked_error() -> APIError:
    return APIError(
        401,
        "token_revoked",
        "The token has been revoked",
        headers={"WWW-Authenticate": 'Bearer realm="frota", error="invalid_token"'},
    )


def unavailable_error() -> APIError:
    return APIError(503, "revocation_unavailable", "Token revocation cannot be checked right now")


class RevocationChecker:
    def __init__(
        self,
        cache: RevocationCache,
        auth_pool: urllib3.HTTPConnectionPool,
        settings: Settings,
    ) -> None:
        self.cache = cache
        self.auth_pool = auth_pool
        self.settings = settings
        self._redis_down_until = 0.0
        # (jti, generation) -> (valid until, on the monotonic clock; revoked?)
        self._answers: dict[tuple[str, int], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def ensure_not_revoked(self, identity: ClientIdentity, request_id: str) -> None:
        key = (identity.jti, identity.generation)
        revoked = self._recall(key)
        if revoked is None:
            revoked = self._look_up(identity, request_id)
        if revoked:
            # A revoked token stays revoked: remember it until it expires anyway.
            self._remember(key, True, until=time.monotonic() + identity.expires_at - time.time())
            raise revoked_error()

    def _look_up(self, identity: ClientIdentity, request_id: str) -> bool:
        key = (identity.jti, identity.generation)
        if time.monotonic() >= self._redis_down_until:
            try:
                revoked = self._revoked_per_redis(identity, request_id)
            except redis.RedisError as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
                metrics.REDIS_FAILURES.labels(component="revocation").inc()
                logger.warning("Redis unreachable for revocation checks: %s", exc)
            else:
                self._remember(key, revoked, until=time.monotonic() + RECENT_ANSWER_SECONDS)
                return revoked
        revoked = self._revoked_per_auth(identity, request_id)
        self._remember(key, revoked, until=time.monotonic() + FALLBACK_TTL_SECONDS)
        return revoked

    def _recall(self, key: tuple[str, int]) -> bool | None:
        with self._lock:
            answer = self._answers.get(key)
        if answer is None or answer[0] <= time.monotonic():
            return None
        return answer[1]

    def _remember(self, key: tuple[str, int], revoked: bool, *, until: float) -> None:
        with self._lock:
            if len(self._answers) >= ANSWERS_MAX:
                self._answers.clear()
            self._answers[key] = (until, revoked)

    def _revoked_per_redis(self, identity: ClientIdentity, request_id: str) -> bool:
        status = self.cache.status(identity.jti, identity.user_id)
        if not status.loaded:
            self._reload(request_id)
            status = self.cache.status(identity.jti, identity.user_id)
        return status.jti_revoked or identity.generation < status.generation

    def _call_auth(self, path: str, request_id: str) -> dict:
        token = mint_internal_token(
            self.settings.internal_secret_key,
            issuer="gateway",
            audience="auth",
            request_id=request_id,
        )
        try:
            response = self.auth_pool.request(
                "GET",
                path,
                headers={INTERNAL_TOKEN_HEADER: token, REQUEST_ID_HEADER: request_id},
                timeout=urllib3.Timeout(connect=self.settings.upstream_connect_timeout, read=5.0),
                retries=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            logger.error("auth service unreachable for revocation state: %s", exc)
            raise unavailable_error() from exc
        if response.status != 200:
            logger.error("auth service answered %s for %s", response.status, path)
            raise unavailable_error()
        return json.loads(response.data)

    def _reload(self, request_id: str) -> None:
        """Rebuild the Redis cache from the auth service (after a flush or restart)."""
        snapshot = self._call_auth("/internal/revocations", request_id)
        self.cache.load(
            [(t["jti"], int(t["exp"])) for t in snapshot["tokens"]],
            {user: int(gen) for user, gen in snapshot["generations"].items()},
        )
        logger.warning(
            "revocation cache reloaded: %d tokens, %d users",
            len(snapshot["tokens"]),
            len(snapshot["generations"]),
        )

    def _revoked_per_auth(self, identity: ClientIdentity, request_id: str) -> bool:
        query = urlencode(
            {"jti": identity.jti, "sub": identity.user_id, "gen": identity.generation}
        )
        return bool(self._call_auth(f"/internal/token-status?{query}", request_id)["revoked"])
