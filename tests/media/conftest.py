"""Helpers for the media tests: uploads through the API, files made in bulk, a real server.

Most tests run in the rolled-back transaction of the root conftest. Those that
need real concurrency (several requests, a killed process) use a committed
scratch database of their own, emptied after each test.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import media_service
from media_service.models import VolumeUsage
from media_service.storage import LocalStorage
from shared.config import Settings
from shared.db import Database, make_engine
from shared.migrations import upgrade
from tests.conftest import make_settings
from tests.support.database import scratch_database
from tests.support.identity import ApiClient
from tests.support.servers import serving

FILES = "/api/v1/media/files"
USAGE = "/api/v1/media/usage"
MB = 1024 * 1024


def upload(
    media_api: ApiClient,
    data: bytes,
    *,
    user: str,
    role: str = "driver",
    name: str = "photo.jpg",
    mimetype: str | None = "image/jpeg",
    kind: str = "photo",
):
    return media_api.post(
        FILES,
        user=user,
        role=role,
        data={"file": (io.BytesIO(data), name, mimetype), "kind": kind},
        content_type="multipart/form-data",
    )


def multipart(data: bytes, *, name: str = "photo.jpg", mimetype: str = "image/jpeg"):
    """A multipart body with one file part, and its Content-Type.

    Built by hand where werkzeug's test client would spool a big body to a
    temporary file that it never closes when the server refuses it unread.
    """
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {mimetype}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


def stored_files(root: Path) -> list[Path]:
    """Every file on the volume, temporary and thumbnail files included."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def usage_row(db_session: Session) -> VolumeUsage:
    return db_session.execute(
        sa.select(VolumeUsage).execution_options(populate_existing=True)
    ).scalar_one()


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.media_root)


@pytest.fixture(scope="session")
def committed_database_url(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url, "media") as url:
        upgrade(media_service.MIGRATIONS, url)
        yield url


@pytest.fixture
def committed_settings(tmp_path: Path, committed_database_url: str, redis_url: str) -> Settings:
    return make_settings(tmp_path, committed_database_url, redis_url, MEDIA_QUOTA_MB="10")


@pytest.fixture
def committed_database(committed_settings: Settings) -> Iterator[Database]:
    """A Database whose commits are real (other connections and processes see them)."""
    database = Database(make_engine(committed_settings.database_url or "", committed_settings))
    yield database
    with database.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE media.files, media.reservations"))
        conn.execute(sa.text("UPDATE media.usage SET used_bytes = 0, reserved_bytes = 0"))
    database.engine.dispose()


@pytest.fixture
def live_media(committed_settings: Settings, committed_database: Database) -> Iterator[str]:
    """The media service over real HTTP, on the committed database."""
    app = media_service.create_app(committed_settings, database=committed_database)
    with serving(app) as url:
        yield url
