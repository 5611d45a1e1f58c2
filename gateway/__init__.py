"""The gateway: the one door into Frota.

Verifies client JWTs, applies the route table and rate limits, mints the
internal credential and streams requests to the services and their answers
back. It has no database.
"""

from __future__ import annotations

import redis
from flask import Flask, Response, jsonify, request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter

from gateway import context
from gateway.client_auth import VerifiedTokens, enforce_password_gate
from gateway.console import register_console
from gateway.docs_page import register_docs_page
from gateway.health import stack_health
from gateway.limits import init_rate_limits, limit_proxy_view
from gateway.openapi import register_openapi
from gateway.proxy import Proxy, service_clients
from gateway.revocation import RevocationChecker
from gateway.web_security import register_security_headers
from shared.config import Settings
from shared.errors import APIError, register_error_handlers
from shared.logs import configure_logging, init_request_logging
from shared.metrics import init_metrics
from shared.revocation import RevocationCache
from shared.tokens import configure_jwt

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging("gateway", settings.log_level, settings.log_format)
    # No static route of Flask's: /static/ is the console's (gateway/console.py); the docs
    # page serves its own files under /api/docs/assets.
    app = Flask(__name__, static_folder=None)
    app.config["FROTA_SETTINGS"] = settings
    configure_jwt(app, settings)
    JWTManager(app)
    app.extensions["verified_tokens"] = VerifiedTokens()
    register_error_handlers(app)
    services = service_clients(settings)
    proxy = Proxy(settings, services)
    # The hooks run in the order registered here, and each relies on those before it.
    # Before each request:
    #   1. the request context (gateway/context.py): request id, client address,
    #      route and client identity, which every later hook reads;
    #   2. CORS preflights answered, before anything counts them;
    #   3. the rate limits, keyed on 1's identity or address (a refused token is
    #      counted too: 1 keeps its error for the view to raise);
    #   4. the access log's and 5. the metrics' clocks.
    # After each request they run the other way round: metrics, access log, rate
    # limit headers, then the security headers on whatever answer it is.
    context.register_request_context(app, settings)
    register_security_headers(app, settings)
    limiter = init_rate_limits(app, settings)
    init_request_logging(app, user_id=lambda: context.current().user_id)
    init_metrics(app, "gateway", settings, route_label=lambda: context.current().metrics_route)
    register_openapi(app, services)
    register_docs_page(app)
    register_routes(app, settings, proxy, limiter)
    # Last: every path the rules above do not claim is the console's.
    register_console(app, settings)
    return app


def register_routes(app: Flask, settings: Settings, proxy: Proxy, limiter: Limiter) -> None:
    redis_client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
    )
    revocations = RevocationChecker(
        RevocationCache(redis_client, settings.redis_prefix), proxy.services["auth"]
    )

    @app.get("/livez")
    def liveness() -> Response:
        """The gateway process answers (used by its container health check)."""
        return jsonify(status="ok")

    @app.get("/health")
    def health() -> tuple[Response, int]:
        report, healthy = stack_health(proxy.services, redis_client)
        return jsonify(report), 200 if healthy else 503

    def forward(_rest: str) -> Response:
        served = context.current()
        if served.route is None:
            raise APIError(404, message="No such resource")
        if served.auth_error is not None:
            raise served.auth_error
        identity = served.client
        if identity is not None:
            revocations.ensure_not_revoked(identity)
            enforce_password_gate(identity, served.route, request.method, request.path)
        return proxy.forward(
            served.route,
            identity=identity,
            request_id=served.request_id,
            client_ip=served.client_ip,
        )

    app.add_url_rule(
        "/api/<path:_rest>",
        "forward",
        limit_proxy_view(limiter, settings, forward, redis_client),
        methods=PROXY_METHODS,
    )
