"""The gateway's own counters, beside the request metrics every process has."""

from prometheus_client import Counter

RATE_LIMITED = Counter(
    "frota_gateway_rate_limited_total", "Requests refused by a rate limit", ["scope"]
)
UPSTREAM_ERRORS = Counter(
    "frota_gateway_upstream_errors_total",
    "Requests a service could not answer (unavailable or timed out)",
    ["service", "kind"],
)
REDIS_FAILURES = Counter(
    "frota_gateway_redis_failures_total",
    "Times Redis could not be used (rate limits fell back, revocation asked auth)",
    ["component"],
)
REVOCATION_VERSION_FAILURES = Counter(
    "frota_gateway_revocation_version_failures_total",
    "Polls of PostgreSQL's revocation version that failed (the worker believed Redis meanwhile)",
)
REVOCATION_REDIS_BEHIND = Counter(
    "frota_gateway_revocation_redis_behind_total",
    "Token look-ups that found Redis empty or behind PostgreSQL and asked the auth service",
)
