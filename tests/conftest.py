"""Fixtures for every test: a real PostgreSQL, migrated once, and one rolled-back
transaction per test (SQLAlchemy's "join a session into an external transaction"
recipe), so code under test may commit and tests stay isolated and fast.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

import auth_service
import fleet_service
import media_service
from frota.database import migrate
from shared.config import Settings
from shared.db import Database, make_engine
from tests.support.database import postgres_server, scratch_database
from tests.support.identity import ApiClient

TEST_SECRETS = {
    "JWT_SECRET_KEY": "test-jwt-secret-" + "x" * 40,
    "INTERNAL_SECRET_KEY": "test-internal-secret-" + "y" * 40,
    "WEB_SECRET_KEY": "test-web-secret-" + "z" * 40,
}


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url, "unit") as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def make_settings(tmp_path: Path, database_url: str, redis_url: str, **env: str) -> Settings:
    return Settings.from_env(
        {
            **TEST_SECRETS,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": f"frota-test-{uuid.uuid4().hex[:8]}",
            "FROTA_VAR_DIR": str(tmp_path / "var"),
            "LOG_LEVEL": "WARNING",
            **env,
        }
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return make_settings(tmp_path, database_url, redis_url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url, Settings())
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        transaction = conn.begin()
        yield conn
        transaction.rollback()


@pytest.fixture
def database(engine: sa.Engine, connection: sa.Connection) -> Database:
    """A Database whose sessions live inside the test's transaction."""
    db = Database(engine)
    db.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
    return db


@pytest.fixture
def db_session(database: Database) -> Iterator[sa.orm.Session]:
    with database.sessionmaker() as session:
        yield session


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A client session for a stack over real HTTP, closed after the test."""
    with requests.Session() as session:
        yield session


def _service_app(module: Any, settings: Settings, database: Database) -> Flask:
    app = module.create_app(settings, database=database)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def auth_app(settings: Settings, database: Database) -> Flask:
    return _service_app(auth_service, settings, database)


@pytest.fixture
def fleet_app(settings: Settings, database: Database) -> Flask:
    return _service_app(fleet_service, settings, database)


@pytest.fixture
def media_app(settings: Settings, database: Database) -> Flask:
    return _service_app(media_service, settings, database)


@pytest.fixture
def auth_api(auth_app: Flask, settings: Settings) -> ApiClient:
    return ApiClient(auth_app, "auth", settings.internal_secret_key)


@pytest.fixture
def fleet_api(fleet_app: Flask, settings: Settings) -> ApiClient:
    return ApiClient(fleet_app, "fleet", settings.internal_secret_key)


@pytest.fixture
def media_api(media_app: Flask, settings: Settings) -> ApiClient:
    return ApiClient(media_app, "media", settings.internal_secret_key)
