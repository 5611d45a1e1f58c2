"""What every back-end service app has in common, wired in one call.

A service's ``create_app`` reads as a table of contents: this builds the
APIFlask app with JSON errors, strict JSON bodies, JSON logging with request
ids, the internal credential check, the database, ``/health`` and ``/ready``; the service then
registers its own blueprints and commands.
"""

from __future__ import annotations

from collections.abc import Mapping

from apiflask import APIFlask
from flask import Response, jsonify

from shared.config import Settings
from shared.db import Database, make_engine
from shared.errors import Conflict, register_error_handlers
from shared.internal_auth import init_internal_auth
from shared.json_body import init_strict_json
from shared.logs import configure_logging, init_request_logging
from shared.metrics import init_metrics
from shared.openapi import FieldRules, complete_document
from shared.schemas import ERROR_SCHEMA

# Answered without an internal credential: probes and the metrics scrape.
OPEN_PATHS = ("/health", "/ready", "/metrics")


def create_service_app(
    service: str,
    settings: Settings,
    *,
    import_name: str,
    title: str,
    database: Database | None,
    conflicts: Mapping[str, Conflict] | None = None,
) -> APIFlask:
    """Build the common skeleton of back-end service ``service``.

    ``conflicts``: what each of its database constraints' refusals answers.
    """
    configure_logging(service, settings.log_level, settings.log_format)
    app = APIFlask(
        import_name,
        title=title,
        version="1.0.0",
        docs_path=None,
        spec_path=None,
        spec_plugins=[FieldRules()],
    )
    app.config.update(
        FROTA_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.json_max_body_kb * 1024,
        AUTO_SERVERS=False,
        # shared.openapi documents the error statuses, each operation's by its shape.
        AUTO_404_RESPONSE=False,
        AUTO_AUTH_ERROR_RESPONSE=False,
        AUTO_VALIDATION_ERROR_RESPONSE=False,
        SPEC_FORMAT="json",
        # Document the error body every response really has.
        HTTP_ERROR_SCHEMA=ERROR_SCHEMA,
    )
    app.security_schemes = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        # Only POST /api/v1/auth/refresh takes it.
        "refreshToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The refresh token login answered with",
        },
    }
    register_error_handlers(app, conflicts)
    init_internal_auth(
        app, service=service, secret=settings.internal_secret_key, open_paths=OPEN_PATHS
    )
    # After the credential check: a body without the credential is never parsed.
    init_strict_json(app)
    init_request_logging(app)
    init_metrics(app, service, settings)
    if database is None:
        database = Database(make_engine(_require_database_url(settings, service), settings))
    database.init_app(app)
    register_probes(app, database)
    register_spec_route(app)
    app.spec_processor(complete_document(app))
    return app


def _require_database_url(settings: Settings, service: str) -> str:
    url = settings.database_url_for(service)
    if not url:
        raise RuntimeError("DATABASE_URL is not set: run through `frota up`, or set it")
    return url


def register_probes(app: APIFlask, database: Database) -> None:
    """``/health``: the process answers. ``/ready``: and its database does too."""

    @app.get("/health")
    @app.doc(hide=True)
    def health() -> Response:
        return jsonify(status="ok")

    @app.get("/ready")
    @app.doc(hide=True)
    def ready() -> tuple[Response, int]:
        if database.is_ready():
            return jsonify(status="ok", database="ok"), 200
        return jsonify(status="down", database="unreachable"), 503


def register_spec_route(app: APIFlask) -> None:
    """The service's own OpenAPI document, which the gateway merges (credential required)."""

    @app.get("/openapi.json")
    @app.doc(hide=True)
    def openapi_document() -> Response:
        return jsonify(app.spec)
