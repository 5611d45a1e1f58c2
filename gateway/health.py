"""The aggregated health of the stack: every service's /ready and Redis, checked at once."""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import urllib3

from shared.http_client import ServiceClient, UpstreamError

PROBE_TIMEOUT = urllib3.Timeout(connect=1.0, read=2.0)


def _probe_service(client: ServiceClient) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = client.request("GET", "/ready", on_behalf_of_user=False, timeout=PROBE_TIMEOUT)
    except UpstreamError as exc:
        return {"status": "down", "error": type(exc.cause).__name__}
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
    services: Mapping[str, ServiceClient], redis_client: redis.Redis
) -> tuple[dict[str, Any], bool]:
    """Probe everything concurrently; return the report and whether all is up."""
    with ThreadPoolExecutor(max_workers=len(services) + 1) as executor:
        probes = {
            name: executor.submit(_probe_service, client) for name, client in services.items()
        }
        redis_future = executor.submit(_probe_redis, redis_client)
        report = {
            "services": {name: future.result() for name, future in probes.items()},
            "redis": redis_future.result(),
        }
    healthy = all(s["status"] == "ok" for s in report["services"].values()) and (
        report["redis"]["status"] == "ok"
    )
    return {"status": "ok" if healthy else "degraded", **report}, healthy
