"""The fleet service in-process, with the real auth and media services listening on local
ports: drivers are checked against auth users, and attachments against media files, over
HTTP as in production. All the apps share the test's rolled-back transaction (the fleet
waits for each answer, so they never use it at once)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy.orm import Session

import auth_service
import fleet_service
import media_service
from auth_service.models import User
from fleet_service.drivers.models import Driver
from fleet_service.vehicles.models import Vehicle
from frota.database import migrate
from shared.config import Settings
from shared.db import Database, make_engine
from tests.support.database import scratch_database
from tests.support.factories import make_assignment, make_driver, make_user, make_vehicle
from tests.support.identity import ApiClient
from tests.support.processes import free_port
from tests.support.servers import serving


def unreachable_url() -> str:
    """A URL where nothing listens: a free port, bound and closed again."""
    return f"http://127.0.0.1:{free_port()}"


ServeOn = Callable[[ModuleType, Database], str]


@pytest.fixture
def serve_on(settings: Settings, database: Database) -> Iterator[ServeOn]:
    """``serve_on(service, database)`` serves that service's app on ``database`` until the
    test ends and returns its URL. One request at a time: the apps share the test's
    transaction."""
    # ``database`` is asked for so that it is set up first: the servers stop before the
    # test's transaction is rolled back.
    with ExitStack() as servers:

        def serve(service: ModuleType, database: Database) -> str:
            app = service.create_app(settings, database=database)
            return servers.enter_context(serving(app, threaded=False))

        yield serve


@pytest.fixture
def auth_url(serve_on: ServeOn, database: Database) -> str:
    return serve_on(auth_service, database)


@pytest.fixture
def media_url(serve_on: ServeOn, database: Database) -> str:
    # settings keep the media volume under the test's tmp_path.
    return serve_on(media_service, database)


@contextmanager
def fleet_app_with(settings: Settings, database: Database, **service_urls: str) -> Iterator[Flask]:
    """The fleet app calling the other services at ``service_urls`` (``auth=``, ``media=``)."""
    app = fleet_service.create_app(
        settings.replace(service_urls={**settings.service_urls, **service_urls}),
        database=database,
    )
    try:
        yield app
    finally:
        # Their HTTP clients keep pooled connections open until closed.
        app.extensions["auth_users"].client.close()
        app.extensions["media_files"].client.close()


@contextmanager
def fleet_api_with(
    settings: Settings, database: Database, **service_urls: str
) -> Iterator[ApiClient]:
    with fleet_app_with(settings, database, **service_urls) as app:
        yield ApiClient(app, "fleet", settings.internal_secret_key)


@pytest.fixture
def fleet_app(
    settings: Settings, database: Database, auth_url: str, media_url: str
) -> Iterator[Flask]:
    with fleet_app_with(settings, database, auth=auth_url, media=media_url) as app:
        app.config["TESTING"] = True
        yield app


@pytest.fixture
def committed_database(pg_server_url: str, settings: Settings) -> Iterator[Database]:
    """A migrated database of the test's own whose commits are real, for code that runs on
    several connections at once (two workers, threads); dropped after the test."""
    with scratch_database(pg_server_url, "fleet_live") as url:
        database = Database(make_engine(url, settings))
        try:
            migrate(url)
            yield database
        finally:
            database.engine.dispose()


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
        created = response.json
        assert response.status_code == 201, created
        assert created is not None
        return created["id"]

    return upload
