"""The auth service served for real: a threaded HTTP server on its own committed database.

Most auth tests run in one rolled-back transaction; tests of concurrency and of
commands that open their own connection (``frota unlock-user``) need committed
rows and many connections, so they get this instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import sqlalchemy as sa

import auth_service
from frota.database import migrate
from shared.config import Settings
from shared.db import make_engine
from tests.auth.throttling import LOGIN, gateway_headers
from tests.conftest import make_settings
from tests.support.database import scratch_database
from tests.support.servers import serving


@dataclass
class LiveAuth:
    url: str
    database_url: str
    settings: Settings
    engine: sa.Engine

    def login(self, address: str, username: str, password: str) -> requests.Response:
        return requests.post(
            f"{self.url}{LOGIN}",
            json={"username": username, "password": password},
            headers=gateway_headers(self.settings.internal_secret_key, address),
            timeout=30,
        )


@pytest.fixture(scope="module")
def live_auth(pg_server_url, redis_url, tmp_path_factory) -> Iterator[LiveAuth]:
    with scratch_database(pg_server_url, "auth_live") as database_url:
        migrate(database_url)
        settings = make_settings(
            tmp_path_factory.mktemp("auth-live"),
            database_url,
            redis_url,
            # Enough connections for real overlap, few enough to share the server.
            DB_POOL_SIZE="20",
            DB_MAX_OVERFLOW="0",
        )
        app = auth_service.create_app(settings)
        # One access-log line per request would drown the test output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        engine = make_engine(database_url, settings)
        try:
            with serving(app) as url:
                yield LiveAuth(url, database_url, settings, engine)
        finally:
            engine.dispose()
            app.extensions["db"].engine.dispose()
