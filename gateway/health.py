"""The aggregated health of the stack: every service's /ready and Redis, checked at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import urllib3

PROBE_TIMEOUT = urllib3.Timeout(connect=1.0, read=2.0)


def _probe_service(pool: urllib3.HTTPConnectionPool) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = pool.request("GET", "/ready", timeout=PROBE_TIMEOUT, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        return {"status": "down", "error": type(exc).__name__}
    latency = round((time.perf_counter() - started) * 1000, 1)
    if response.status != 200:
        return {"status": "down", "http_status": response.status, "latency_ms": latency}
    return {"status": "ok", "latency_ms": latency}


def _probe_redis(client: redis.Redis) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def stack_health(
    pools: dict[str, urllib3.HTTPConnectionPool], redis_client: redis.Redis
) -> tuple[dict[str, Any], bool]:
    """Probe everything concurrently; return the report and whether all is up."""
    with ThreadPoolExecutor(max_workers=len(pools) + 1) as executor:
        services = {name: executor.submit(_probe_service, pool) for name, pool in pools.items()}
        redis_future = executor.submit(_probe_redis, redis_client)
        report = {
            "services": {name: future.result() for name, future in services.items()},
            "redis": redis_future.result(),
        }
    healthy = all(s["status"] == "ok" for s in report["services"].values()) and (
        report["redis"]["status"] == "ok"
    )
    return {"status": "ok" if healthy else "degraded", **report}, healthy
