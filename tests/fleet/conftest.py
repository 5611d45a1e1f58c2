"""The fleet service in-process, with the real auth and media services listening on local
ports: drivers are checked against auth users, and attachments against media files, over
HTTP as in production. All the apps share the test's rolled-back transaction (the fleet
waits for each answer, so they never use it at once)."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

import auth_service
import fleet_service
import media_service
from auth_service.models import User
from fleet_service.drivers.models import Driver
from fleet_service.vehicles.models import Vehicle
from shared.config import Settings
from shared.db import Database
from tests.support.factories import make_assignment, make_driver, make_user, make_vehicle
from tests.support.identity import ApiClient


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` over HTTP from a thread; yield its URL."""
    server = make_server("127.0.0.1", 0, app)
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
def auth_url(settings: Settings, database: Database) -> Iterator[str]:
    with serving(auth_service.create_app(settings, database=database)) as url:
        yield url


@pytest.fixture
def media_url(settings: Settings, database: Database) -> Iterator[str]:
    # settings keep the media volume under the test's tmp_path.
    with serving(media_service.create_app(settings, database=database)) as url:
        yield url


@pytest.fixture
def fleet_app(
    settings: Settings, database: Database, auth_url: str, media_url: str
) -> Iterator[Flask]:
    fleet_settings = settings.replace(
        service_urls={**settings.service_urls, "auth": auth_url, "media": media_url}
    )
    app = fleet_service.create_app(fleet_settings, database=database)
    app.config["TESTING"] = True
    yield app
    app.extensions["auth_users"].client.close()
    app.extensions["media_files"].client.close()


@pytest.fixture
def driver_user(db_session: Session) -> User:
    return make_user(db_session, role="driver")


@pytest.fixture
def driver(db_session: Session, driver_user: User) -> Driver:
    return make_driver(db_session, user=driver_user)


@pytest.fixture
def vehicle(db_session: Session, driver: Driver) -> Vehicle:
    """A vehicle assigned to ``driver`` now (modules needing another vehicle override it)."""
    vehicle = make_vehicle(db_session)
    make_assignment(db_session, vehicle=vehicle, driver=driver)
    return vehicle


@pytest.fixture
def manager() -> SimpleNamespace:
    """A manager calling through the gateway (no driver record, sees everything)."""
    return SimpleNamespace(id=str(uuid.uuid4()), role="manager")


def photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def upload_photo(media_api: ApiClient) -> Callable[[Any], str]:
    """Upload a photo to the media service as ``user``; return its file id."""

    def upload(user: Any) -> str:
        response = media_api.post(
            "/api/v1/media/files",
            user=user,
            data={"file": (io.BytesIO(photo_bytes()), "photo.jpg", "image/jpeg"), "kind": "photo"},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.json
        return response.json["id"]

    return upload
