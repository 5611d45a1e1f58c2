"""Rate limits: flask-limiter on Redis, shared by every gateway worker.

- Authenticated requests are counted per user (a depot behind one NAT must
  not throttle a whole team); anonymous ones per client IP.
- Login is limited per client IP with its own, stricter limit, counting only
  failed attempts: a shift of drivers logging in from one depot is not
  throttled, a password-guessing client is. Each attempt *reserves* its place
  in Redis before it is forwarded (one atomic script, so parallel guesses see
  each other) and gives it back when the login succeeds; counting after the
  answer, as flask-limiter's ``deduct_when`` does, let 80 parallel guesses all
  through. The auth service counts the same limit again in PostgreSQL
  (auth_service/throttle.py), which is what holds when Redis is down.
- Moving windows: the (N+1)th request within any window is refused, whichever
  worker serves it.
- Redis unreachable: requests keep being served. flask-limiter falls back to
  per-worker in-memory counters, re-checks Redis with back-off and returns to
  the shared counters by itself; the switch is logged once and counted. The
  login reservation lets attempts through to the auth service's own count,
  and tries Redis again after ``LOGIN_REDIS_RETRY_SECONDS``.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

import limits
import redis
from flask import Flask, Response, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded

from gateway import metrics
from gateway.context import current
from shared.addresses import limit_key
from shared.config import Settings
from shared.errors import error_response

LOGIN_PATH = "/api/v1/auth/login"
# After a Redis error the login reservation skips Redis this long (per worker),
# so an outage costs one timeout per second, not one per login.
LOGIN_REDIS_RETRY_SECONDS = 1.0

logger = logging.getLogger("frota.gateway.limits")


def client_key() -> str:
    # An IPv6 client's whole /64 is one client (shared/addresses.py says why).
    return f"ip:{limit_key(current().client_ip)}"


def caller_key() -> str:
    user_id = current().user_id
    if user_id is not None:
        return f"user:{user_id}"
    return client_key()


def is_login() -> bool:
    return request.path == LOGIN_PATH


def _headers(limit: RequestLimit) -> dict[str, str]:
    try:
        # limits rounds reset_at up to the next whole second; never announce more
        # than one window.
        reset = min(limit.limit.get_expiry(), max(0, math.ceil(limit.reset_at - time.time())))
        remaining = limit.remaining
    except redis.RedisError:
        # Redis stalled after the request was counted (CLIENT PAUSE, a slow
        # failover): the headers are advice, not worth turning the answer into a 500.
        return {}
    return {
        "RateLimit-Limit": str(limit.limit.amount),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(reset),
    }


class _StorageStateFilter(logging.Filter):
    """Counts flask-limiter's switches to and from its in-memory fallback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "storage unreachable" in message:
            metrics.REDIS_FAILURES.labels(component="rate_limit").inc()
        return True


def init_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """Attach the limiter; call after the request context (client ip, identity) is resolved."""
    timeout = settings.redis_timeout_seconds
    limiter = Limiter(
        key_func=caller_key,
        storage_uri=settings.redis_url,
        # Flask-Limiter annotates the options as str | int, but they go to redis-py,
        # whose timeouts are float seconds.
        storage_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},  # type: ignore[dict-item]
        strategy="moving-window",
        key_prefix=f"{settings.redis_prefix}:rl",
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)
    logging.getLogger("flask-limiter").addFilter(_StorageStateFilter())

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(exc: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        headers = _headers(current) if current else {}
        headers["Retry-After"] = headers.get("RateLimit-Reset", "60")
        scope = "login" if is_login() else "api"
        metrics.RATE_LIMITED.labels(scope=scope).inc()
        return error_response(
            429,
            "rate_limited",
            f"Too many requests: the limit is {exc.limit.limit}",
            details={"retry_after_seconds": int(headers["Retry-After"])},
            headers=headers,
        )

    @app.after_request
    def rate_limit_headers(response: Response) -> Response:
        current = limiter.current_limit
        if current is not None and response.status_code != 429:
            response.headers.update(_headers(current))
        return response

    return limiter


# KEYS[1] the address's sorted set of reservations (score: time reserved);
# ARGV: window in ms, limit, this attempt's member. Redis's own clock, so every
# worker agrees. Returns {reserved (0/1), remaining, ms until a place frees up}.
RESERVE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {1, limit - count - 1, tonumber(oldest[2]) + window - now}
"""


class LoginReservations:
    """``RATE_LIMIT_LOGIN`` per client IP, counted before the attempt is forwarded.

    A place is reserved for every attempt and given back when the login
    succeeds, so the limit counts failures (and attempts still in flight).
    """

    def __init__(self, settings: Settings, redis_client: redis.Redis) -> None:
        item = limits.parse(settings.rate_limit_login)
        self.limit = item.amount
        self.window_ms = item.get_expiry() * 1000
        self.description = str(item)
        self.prefix = f"{settings.redis_prefix}:login-reservations"
        self.redis = redis_client
        self.reserve_script = self.redis.register_script(RESERVE_SCRIPT)
        self.skip_redis_until = 0.0

    def _redis_failed(self, exc: redis.RedisError) -> None:
        if time.monotonic() >= self.skip_redis_until:
            logger.warning("login limit: Redis unavailable, the auth service counts alone: %s", exc)
        metrics.REDIS_FAILURES.labels(component="login_limit").inc()
        self.skip_redis_until = time.monotonic() + LOGIN_REDIS_RETRY_SECONDS

    def _headers(self, remaining: int, reset_ms: int) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Reset": str(max(1, math.ceil(reset_ms / 1000))),
        }

    def guard(self, forward: Callable[[], Response]) -> Response:
        """Reserve a place for this attempt, forward it, give the place back on success."""
        if time.monotonic() < self.skip_redis_until:
            return forward()
        key = f"{self.prefix}:{client_key()}"
        member = uuid.uuid4().hex
        try:
            reserved, remaining, reset_ms = self.reserve_script(
                keys=[key], args=[self.window_ms, self.limit, member]
            )
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return forward()
        headers = self._headers(int(remaining), int(reset_ms))
        if not reserved:
            metrics.RATE_LIMITED.labels(scope="login").inc()
            retry_after = int(headers["RateLimit-Reset"])
            return error_response(
                429,
                "rate_limited",
                f"Too many requests: the limit is {self.description}",
                details={"retry_after_seconds": retry_after},
                headers={**headers, "Retry-After": str(retry_after)},
            )
        response = forward()
        if response.status_code < 400:
            try:
                self.redis.zrem(key, member)
                headers["RateLimit-Remaining"] = str(int(remaining) + 1)
            except redis.RedisError as exc:
                self._redis_failed(exc)
        response.headers.update(headers)
        return response


def limit_proxy_view(
    limiter: Limiter,
    settings: Settings,
    view: Callable[..., Response],
    redis_client: redis.Redis,
) -> Callable[..., Response]:
    """Wrap the proxy view with the login limit and the default limit.

    ``redis_client`` is the gateway's own (the one /health and revocation use).
    """
    logins = LoginReservations(settings, redis_client)
    limited_view = limiter.limit(
        settings.rate_limit_default,
        key_func=caller_key,
        exempt_when=is_login,
        scope="api",
    )(view)

    @functools.wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Response:
        if is_login():
            return logins.guard(lambda: view(*args, **kwargs))
        return limited_view(*args, **kwargs)

    return limited
