"""The auth service: users, roles, passwords, tokens."""

from __future__ import annotations

from pathlib import Path

from apiflask import APIFlask
from flask_jwt_extended import JWTManager

from auth_service import routes
from shared.config import Settings
from shared.db import Database
from shared.service_app import create_service_app
from shared.tokens import configure_jwt

SERVICE = "auth"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> APIFlask:
    settings = settings or Settings.from_env()
    app = create_service_app(
        SERVICE, settings, import_name=__name__, title="Frota auth", database=database
    )
    configure_jwt(app, settings)
    JWTManager(app)
    register_blueprints(app)
    return app


def register_blueprints(app: APIFlask) -> None:
    app.register_blueprint(routes.bp)
