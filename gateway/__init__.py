"""The gateway: the one door into Frota.

Verifies client JWTs, applies the route table and rate limits, mints the
internal credential and streams requests to the services and their answers
back. It has no database.
"""

from __future__ import annotations

import redis
from flask import Flask, Response, g, jsonify, request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter

from gateway.client_auth import VerifiedTokens, authenticate_request, enforce_password_gate
from gateway.client_ip import client_ip, parse_networks
from gateway.health import stack_health
from gateway.limits import init_rate_limits, limit_proxy_view
from gateway.openapi import register_openapi
from gateway.proxy import Proxy, service_clients
from gateway.revocation import RevocationChecker
from gateway.routing import Access, build_route_table, find_route
from gateway.web_security import register_security_headers
from shared.config import Settings
from shared.errors import APIError, register_error_handlers
from shared.logs import (
    REQUEST_ID_HEADER,
    configure_logging,
    init_request_logging,
    is_valid_request_id,
    new_request_id,
)
from shared.metrics import init_metrics
from shared.revocation import RevocationCache
from shared.tokens import configure_jwt

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging("gateway", settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config["FROTA_SETTINGS"] = settings
    configure_jwt(app, settings)
    JWTManager(app)
    app.extensions["verified_tokens"] = VerifiedTokens()
    register_error_handlers(app)
    services = service_clients(settings)
    proxy = Proxy(settings, services)
    register_request_context(app, settings)
    register_security_headers(app, settings)
    limiter = init_rate_limits(app, settings)
    init_request_logging(app)
    init_metrics(app, "gateway", settings)
    register_openapi(app, services)
    register_routes(app, settings, proxy, limiter)
    return app


def register_request_context(app: Flask, settings: Settings) -> None:
    """Before anything else: request id, client address, route and (softly) identity.

    The identity is resolved here so that the rate limiter can key on it; a bad
    token is remembered and answered by the view, after the limiter counted it.
    """
    table = build_route_table(settings)
    trusted = parse_networks(settings.trusted_proxies)

    @app.before_request
    def resolve_request_context() -> None:
        claimed = request.headers.get(REQUEST_ID_HEADER)
        g.request_id = claimed if is_valid_request_id(claimed) else new_request_id()
        g.client_ip = client_ip(request.remote_addr or "", request.headers, trusted)
        g.route = find_route(table, request.method, request.path)
        g.identity = None
        if g.route is not None:
            g.metrics_route = g.route.prefix
            if g.route.access is not Access.PUBLIC:
                try:
                    g.identity = authenticate_request(g.route)
                except APIError as exc:
                    g.auth_error = exc


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
        route = g.route
        if route is None:
            raise APIError(404, message="No such resource")
        if g.get("auth_error") is not None:
            raise g.auth_error
        identity = g.identity
        if identity is not None:
            revocations.ensure_not_revoked(identity)
            enforce_password_gate(identity, route, request.method, request.path)
        return proxy.forward(
            route, identity=identity, request_id=g.request_id, client_ip=g.client_ip
        )

    app.add_url_rule(
        "/api/<path:_rest>",
        "forward",
        limit_proxy_view(limiter, settings, forward, redis_client),
        methods=PROXY_METHODS,
    )
