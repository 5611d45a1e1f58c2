"""The fleet service in-process, with the real auth service listening on a local port:
drivers are checked against auth users over HTTP, as in production. Both apps share
the test's rolled-back transaction (the fleet waits for each answer, so they never
use it at once)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from flask import Flask
from werkzeug.serving import make_server

import auth_service
import fleet_service
from shared.config import Settings
from shared.db import Database


@pytest.fixture
def auth_url(settings: Settings, database: Database) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, auth_service.create_app(settings, database=database))
    # A short poll interval: shutdown() waits for the loop to notice, once per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def fleet_app(settings: Settings, database: Database, auth_url: str) -> Iterator[Flask]:
    fleet_settings = settings.replace(service_urls={**settings.service_urls, "auth": auth_url})
    app = fleet_service.create_app(fleet_settings, database=database)
    app.config["TESTING"] = True
    yield app
    app.extensions["auth_users"].client.session.close()


@pytest.fixture
def manager() -> SimpleNamespace:
    """A manager calling through the gateway (no driver record, sees everything)."""
    return SimpleNamespace(id=str(uuid.uuid4()), role="manager")
