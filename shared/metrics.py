"""Prometheus metrics for every process: requests by route and status, and latency.

Under gunicorn each part of the stack runs with its own
``PROMETHEUS_MULTIPROC_DIR`` so that ``/metrics`` adds up all its workers.
``/metrics`` answers only to peers in ``METRICS_ALLOWED_NETWORKS`` that did
not come through a proxy; it is never part of the public route table.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from shared.config import Settings
from shared.errors import APIError

REQUESTS = Counter(
    "frota_http_requests_total",
    "HTTP requests served, by route template and status",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "frota_http_request_duration_seconds",
    "Time to produce the response (streamed bodies not included)",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FORWARDING_HEADERS = ("X-Forwarded-For", "CF-Connecting-IP", "Forwarded", "X-Real-IP")


def _no_label() -> str | None:
    return None


def init_metrics(
    app: Flask,
    service: str,
    settings: Settings,
    *,
    route_label: Callable[[], str | None] = _no_label,
) -> None:
    """Count and time every request of ``app``; serve ``/metrics`` to allowed peers.

    Requests are labelled by a low-cardinality name of their route: what
    ``route_label`` says (the gateway's route prefixes, its one view serving
    every path), else the URL rule's template.
    """

    def label() -> str:
        named = route_label()
        if named:
            return named
        return request.url_rule.rule if request.url_rule is not None else "unmatched"

    allowed = tuple(
        ipaddress.ip_network(n, strict=False) for n in settings.metrics_allowed_networks
    )

    @app.before_request
    def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None and request.path != "/metrics":
            route = label()
            REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
            LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
        return response

    def metrics() -> Response:
        if not _peer_allowed(allowed):
            raise APIError(404, message="No such resource")
        if settings.metrics_dir is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(settings.metrics_dir))
            body = generate_latest(registry)
        else:
            body = generate_latest()
        return Response(body, mimetype=CONTENT_TYPE_LATEST)

    doc = getattr(app, "doc", None)  # APIFlask apps: keep it out of the OpenAPI document
    app.add_url_rule("/metrics", "metrics", doc(hide=True)(metrics) if doc else metrics)


def _peer_allowed(allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    if any(h in request.headers for h in FORWARDING_HEADERS):
        return False
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in network for network in allowed)
