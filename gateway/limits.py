"""Rate limits: flask-limiter on Redis, shared by every gateway worker.

- Authenticated requests are counted per user (a depot behind one NAT must
  not throttle a whole team); anonymous ones per client IP.
- Login is limited per client IP with its own, stricter limit, counting only
  failed attempts: a shift of drivers logging in from one depot is not
  throttled, a password-guessing client is — before any hashing happens.
- Moving windows: the (N+1)th request within any window is refused, whichever
  worker serves it.
- Redis unreachable: requests keep being served. flask-limiter falls back to
  per-worker in-memory counters, re-checks Redis with back-off and returns to
  the shared counters by itself; the switch is logged once and counted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import redis
from flask import Flask, Response, g, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded

from gateway import metrics
from shared.config import Settings
from shared.errors import error_response

LOGIN_PATH = "/api/v1/auth/login"


def client_key() -> str:
    return f"ip:{g.client_ip}"


def caller_key() -> str:
    identity = g.get("identity")
    if identity is not None:
        return f"user:{identity.user_id}"
    return client_key()


def is_login() -> bool:
    return request.path == LOGIN_PATH


def login_failed(response: Response) -> bool:
    return response.status_code in (400, 401, 422)


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
        storage_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},
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


def limit_proxy_view(
    limiter: Limiter, settings: Settings, view: Callable[..., Response]
) -> Callable[..., Response]:
    """Wrap the proxy view with the login limit and the default limit."""
    view = limiter.limit(
        settings.rate_limit_login,
        key_func=client_key,
        exempt_when=lambda: not is_login(),
        deduct_when=login_failed,
        scope="login",
    )(view)
    return limiter.limit(
        settings.rate_limit_default,
        key_func=caller_key,
        exempt_when=is_login,
        scope="api",
    )(view)
