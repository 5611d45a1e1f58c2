"""Is this token revoked? Checked on every authenticated request.

Normal path: one Redis round trip (see shared/revocation.py), whose "not
revoked" answer the worker reuses for half a second. When Redis is
unreachable, the gateway asks the auth service, whose answer comes from
PostgreSQL, and reuses each answer for one second. If neither can answer, the
request gets 503 rather than a guess.

Redis can also answer *wrongly*: when it stalls (``CLIENT PAUSE WRITE``, a
slow failover) it keeps serving reads from before a revocation whose publish
timed out, and the publish is not retried for ever. So Redis records the
PostgreSQL revocation version it is complete up to, and each worker polls
PostgreSQL's version from the auth service (:class:`VersionWatch`, one call per
worker every ``VERSION_POLL_SECONDS``, never per request). While Redis is
behind (or empty after a flush or restart), the worker ignores every answer it
remembered from before, answers from the auth service, and reloads Redis from
the auth service's snapshot in the background. When the auth service cannot
be asked for the version, the worker keeps believing Redis: no revocation can
commit without the auth service.

Time to take effect, worst case, for a revocation committed at t0 whose
publish to Redis failed:
    the first poll that starts after t0 starts by t0 + VERSION_POLL_SECONDS
    (0.25 s) and answers within VERSION_POLL_TIMEOUT (0.25 s): by t0 + 0.5 s
    the worker knows the new version. From then on no remembered answer older
    than it is used, and Redis, behind, is not believed: every lookup asks the
    auth service. A request arriving after t0 + 0.5 s is refused; 0.5 s of
    the one-second contract is left for that request's own lookups (the Redis
    read is bounded by REDIS_TIMEOUT_SECONDS, 0.25 s by default).
When the publish succeeded, Redis has the change at t0 and a remembered
"not revoked" answer lives RECENT_ANSWER_SECONDS (0.5 s) at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

import redis
import urllib3

from gateway import metrics
from gateway.client_auth import ClientIdentity
from shared.errors import APIError
from shared.http_client import ServiceClient
from shared.revocation import RevocationCache

logger = logging.getLogger("frota.gateway.revocation")

# How long an answer from the auth service is reused (as long as no newer
# revocation is known): the contract is that revocation takes effect within
# one second.
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
# Each worker asks the auth service for PostgreSQL's revocation version this
# often, with this timeout (see the worst case above).
VERSION_POLL_SECONDS = 0.25
VERSION_POLL_TIMEOUT = 0.25
# A worker that served no authenticated request for this long stops polling;
# its next request waits for one poll (at most VERSION_POLL_TIMEOUT) first.
VERSION_IDLE_SECONDS = 10.0
# Knowledge older than this means the poller was not running (a new or idle
# worker), rather than failing: the request waits for a fresh answer.
VERSION_STALE_SECONDS = VERSION_POLL_SECONDS + VERSION_POLL_TIMEOUT + 0.25
# While Redis is behind, each worker tries to reload it at most this often.
CATCH_UP_EVERY_SECONDS = 1.0
# How long the auth service may take over one token's state (a request waits for it)
# or its snapshot: a slow auth service costs a request at most this before its 503.
AUTH_READ_TIMEOUT_SECONDS = 5.0


def revoked_error() -> APIError:
    return APIError(
        401,
        "token_revoked",
        "The token has been revoked",
        headers={"WWW-Authenticate": 'Bearer realm="frota", error="invalid_token"'},
    )


def unavailable_error() -> APIError:
    # Retry-After as for database_unavailable: the usual cause is the auth database down.
    return APIError(
        503,
        "revocation_unavailable",
        "Token revocation cannot be checked right now",
        headers={"Retry-After": "5"},
    )


class VersionWatch:
    """PostgreSQL's revocation version as this worker last heard it from the auth service.

    A background thread (a greenlet under gevent) polls while the worker
    serves requests, so no request waits for it — except the first after the
    worker started or sat idle, which waits for one poll.
    """

    def __init__(self, fetch: Callable[[], int], heard: Callable[[int], None]) -> None:
        self._fetch = fetch
        self._heard = heard
        self._cond = threading.Condition()
        self._known: int | None = None
        self._attempted_at = float("-inf")  # when the last poll finished, failed or not
        self._used_at = float("-inf")
        self._polling = False
        self._failing = False

    def known(self) -> int | None:
        """The last version heard (None: never heard, believe Redis)."""
        now = time.monotonic()
        with self._cond:
            self._used_at = now
            if not self._polling:
                self._polling = True
                threading.Thread(target=self._poll, name="revocation-version", daemon=True).start()
            if now - self._attempted_at > VERSION_STALE_SECONDS:
                self._cond.wait_for(
                    lambda: self._attempted_at >= now, timeout=VERSION_POLL_TIMEOUT + 0.1
                )
            return self._known

    def _poll(self) -> None:
        try:
            while self._poll_once():
                pass
        finally:
            # Also if a poll raised something unforeseen: the next request
            # starts a new poller rather than waiting on a dead one.
            with self._cond:
                self._polling = False

    def _poll_once(self) -> bool:
        """One poll, then the wait until the next; False when the worker has gone idle."""
        started = time.monotonic()
        with self._cond:
            if started - self._used_at > VERSION_IDLE_SECONDS:
                return False
        try:
            version: int | None = self._fetch()
        except Exception as exc:
            # Whatever the failure (unreachable, timed out, a bad answer):
            # counted, and Redis is believed meanwhile.
            version = None
            self._note_failure(exc)
        with self._cond:
            if version is not None:
                self._known = version
                if self._failing:
                    logger.warning("revocation version readable again: %d", version)
                self._failing = False
            self._attempted_at = time.monotonic()
            self._cond.notify_all()
        if version is not None:
            self._heard(version)
        time.sleep(max(0.0, started + VERSION_POLL_SECONDS - time.monotonic()))
        return True

    def _note_failure(self, exc: Exception) -> None:
        metrics.REVOCATION_VERSION_FAILURES.inc()
        if not self._failing:
            # Logged once per outage; every failure is counted.
            logger.warning(
                "cannot read the revocation version from the auth service (%s);"
                " believing Redis meanwhile",
                exc,
            )
        self._failing = True


class RevocationChecker:
    def __init__(self, cache: RevocationCache, auth: ServiceClient) -> None:
        self.cache = cache
        self.auth = auth
        # Connect as every call to the auth service does; read as the answers need.
        self.auth_timeout = urllib3.Timeout(
            connect=auth.connect_timeout, read=AUTH_READ_TIMEOUT_SECONDS
        )
        self.versions = VersionWatch(self._fetch_version, self._heard_version)
        self._redis_down_until = 0.0
        # (jti, generation) -> (valid until on the monotonic clock, revoked?,
        # the revocation version the answer is complete up to)
        self._answers: dict[tuple[str, int], tuple[float, bool, int]] = {}
        self._lock = threading.Lock()
        self._catching_up = False
        self._caught_up_tried_at = float("-inf")
        # The version Redis was last seen complete up to (None: empty or not seen).
        self._redis_seen: int | None = None

    def ensure_not_revoked(self, identity: ClientIdentity) -> None:
        known = self.versions.known()
        key = (identity.jti, identity.generation)
        revoked = self._recall(key, known)
        if revoked is None:
            revoked = self._look_up(identity, known)
        if revoked:
            # A revoked token stays revoked: remember it until it expires anyway.
            until = time.monotonic() + identity.expires_at - time.time()
            self._remember(key, True, 0, until=until)
            raise revoked_error()

    def _look_up(self, identity: ClientIdentity, known: int | None) -> bool:
        key = (identity.jti, identity.generation)
        if time.monotonic() >= self._redis_down_until:
            try:
                status = self.cache.status(identity.jti, identity.user_id)
            except redis.RedisError as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
                metrics.REDIS_FAILURES.labels(component="revocation").inc()
                logger.warning("Redis unreachable for revocation checks: %s", exc)
            else:
                self._redis_seen = status.version
                if status.version is not None and (known is None or status.version >= known):
                    revoked = status.jti_revoked or identity.generation < status.generation
                    self._remember(
                        key, revoked, status.version, until=time.monotonic() + RECENT_ANSWER_SECONDS
                    )
                    return revoked
                # Redis is empty (flushed, restarted) or missed a revocation
                # (a publish during a stall): not to be believed until reloaded.
                metrics.REVOCATION_REDIS_BEHIND.inc()
                self._catch_up_soon(known)
        revoked, version = self._revoked_per_auth(identity)
        self._remember(key, revoked, version, until=time.monotonic() + FALLBACK_TTL_SECONDS)
        return revoked

    def _recall(self, key: tuple[str, int], known: int | None) -> bool | None:
        with self._lock:
            answer = self._answers.get(key)
        if answer is None or answer[0] <= time.monotonic():
            return None
        _, revoked, version = answer
        if not revoked and known is not None and version < known:
            return None  # a revocation committed since this answer was read
        return revoked

    def _remember(self, key: tuple[str, int], revoked: bool, version: int, *, until: float) -> None:
        with self._lock:
            if len(self._answers) >= ANSWERS_MAX:
                self._answers.clear()
            self._answers[key] = (until, revoked, version)

    def _fetch_version(self) -> int:
        answer = self.auth.get_json(
            "/internal/revocation-version",
            on_behalf_of_user=False,
            timeout=urllib3.Timeout(total=VERSION_POLL_TIMEOUT),
        )
        return int(answer["version"])

    def _heard_version(self, version: int) -> None:
        # Also when no request looks Redis up (every token in use is already
        # remembered as revoked): Redis must still catch up.
        if self._redis_seen is None or self._redis_seen < version:
            self._catch_up_soon(version)

    def _catch_up_soon(self, known: int | None) -> None:
        """Reload Redis in the background: one reload per worker at a time, one a second."""
        now = time.monotonic()
        with self._lock:
            if self._catching_up or now - self._caught_up_tried_at < CATCH_UP_EVERY_SECONDS:
                return
            self._catching_up = True
            self._caught_up_tried_at = now
        threading.Thread(
            target=self._catch_up, args=(known,), name="revocation-reload", daemon=True
        ).start()

    def _catch_up(self, known: int | None) -> None:
        # ``known`` comes from the caller: asking self.versions here would count
        # as a request and keep an idle worker polling while Redis stays behind.
        try:
            self._redis_seen = self.cache.version()
            if self._redis_seen is not None and known is not None and self._redis_seen >= known:
                return  # another worker (or a late publish) brought it up to date
            self._redis_seen = self._reload()
        except (redis.RedisError, APIError) as exc:
            # Still stalled or unreachable: requests keep asking the auth
            # service, and the next lookup that finds Redis behind tries again.
            logger.warning("revocation cache not reloaded yet: %s", exc)
        finally:
            with self._lock:
                self._catching_up = False

    def _reload(self) -> int:
        """Rebuild the Redis cache from the auth service's snapshot; returns Redis's version."""
        snapshot = self.auth.get_json(
            "/internal/revocations", on_behalf_of_user=False, timeout=self.auth_timeout
        )
        version = self.cache.load(
            [(t["jti"], int(t["exp"])) for t in snapshot["tokens"]],
            {user: int(gen) for user, gen in snapshot["generations"].items()},
            int(snapshot["version"]),
        )
        logger.warning(
            "revocation cache reloaded: %d tokens, %d users, complete up to version %d",
            len(snapshot["tokens"]),
            len(snapshot["generations"]),
            version,
        )
        return version

    def _revoked_per_auth(self, identity: ClientIdentity) -> tuple[bool, int]:
        query = urlencode(
            {"jti": identity.jti, "sub": identity.user_id, "gen": identity.generation}
        )
        try:
            answer = self.auth.get_json(
                f"/internal/token-status?{query}",
                on_behalf_of_user=False,
                timeout=self.auth_timeout,
            )
        except APIError as exc:
            logger.error("auth service unreachable for revocation state: %s", exc)
            raise unavailable_error() from exc
        return bool(answer["revoked"]), int(answer["version"])
