"""The auth service: users, roles, passwords, tokens."""

from __future__ import annotations

from pathlib import Path

import redis
from apiflask import APIFlask
from flask_jwt_extended import JWTManager

from auth_service import internal_routes, routes
from auth_service.constraints import CONFLICTS
from auth_service.revocation import RevocationPublisher
from shared.config import Settings
from shared.db import Database
from shared.revocation import RevocationCache
from shared.service_app import create_service_app
from shared.tokens import configure_jwt

SERVICE = "auth"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> APIFlask:
    settings = settings or Settings.from_env()
    app = create_service_app(
        SERVICE,
        settings,
        import_name=__name__,
        title="Frota auth",
        database=database,
        conflicts=CONFLICTS,
    )
    configure_jwt(app, settings)
    JWTManager(app)
    register_revocation_publisher(app, settings)
    register_blueprints(app)
    return app


def register_revocation_publisher(app: APIFlask, settings: Settings) -> None:
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    cache = RevocationCache(client, settings.redis_prefix)
    app.extensions["revocation_publisher"] = RevocationPublisher(cache)


def register_blueprints(app: APIFlask) -> None:
    app.register_blueprint(routes.bp)
    app.register_blueprint(internal_routes.bp)
