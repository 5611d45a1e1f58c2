"""The gateway: the one door into Frota.

Verifies client JWTs, applies the route table, mints the internal credential
and streams requests to the services and their answers back.
"""

from __future__ import annotations

import redis
from flask import Flask, Response, g, jsonify, request
from flask_jwt_extended import JWTManager

from gateway.client_auth import authenticate_request, enforce_password_gate
from gateway.client_ip import client_ip, parse_networks
from gateway.health import stack_health
from gateway.proxy import Proxy
from gateway.revocation import RevocationChecker
from gateway.routing import build_route_table, find_route
from shared.config import Settings
from shared.errors import APIError, register_error_handlers
from shared.logs import (
    REQUEST_ID_HEADER,
    configure_logging,
    init_request_logging,
    is_valid_request_id,
    new_request_id,
)
from shared.revocation import RevocationCache
from shared.tokens import configure_jwt

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging("gateway", settings.log_level)
    app = Flask(__name__)
    app.config["FROTA_SETTINGS"] = settings
    configure_jwt(app, settings)
    JWTManager(app)
    register_error_handlers(app)
    register_request_id(app)
    init_request_logging(app)
    register_routes(app, settings)
    return app


def register_request_id(app: Flask) -> None:
    """Reuse a well-formed client request id, else make one; it goes everywhere."""

    @app.before_request
    def assign_request_id() -> None:
        claimed = request.headers.get(REQUEST_ID_HEADER)
        g.request_id = claimed if is_valid_request_id(claimed) else new_request_id()


def register_routes(app: Flask, settings: Settings) -> None:
    table = build_route_table(settings)
    proxy = Proxy(settings)
    trusted = parse_networks(settings.trusted_proxies)
    redis_client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    revocations = RevocationChecker(
        RevocationCache(redis_client, settings.redis_prefix), proxy.pools["auth"], settings
    )

    @app.get("/livez")
    def liveness() -> Response:
        """The gateway process answers (used by its container health check)."""
        return jsonify(status="ok")

    @app.get("/health")
    def health() -> tuple[Response, int]:
        report, healthy = stack_health(proxy.pools, redis_client)
        return jsonify(report), 200 if healthy else 503

    @app.route("/api/<path:_rest>", methods=PROXY_METHODS)
    def forward(_rest: str) -> Response:
        route = find_route(table, request.method, request.path)
        if route is None:
            raise APIError(404, message="No such resource")
        identity = authenticate_request(route)
        if identity is not None:
            revocations.ensure_not_revoked(identity, g.request_id)
            enforce_password_gate(identity, route, request.method, request.path)
        g.identity = identity
        return proxy.forward(
            route,
            identity=identity,
            request_id=g.request_id,
            client_ip=client_ip(request.remote_addr or "", request.headers, trusted),
        )
