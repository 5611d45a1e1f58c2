"""A full media filesystem (ENOSPC, not the quota): 507 insufficient_storage JSON, nothing
half-written, nothing reserved, and reads keep working.

The volume is a real 8 MB tmpfs mounted for the test (root only: CI runs as
root), the quota far larger than the disk, the media service a real threaded
HTTP server on a committed database.
"""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

import media_service
from media_service.models import MediaFile, UploadReservation, VolumeUsage
from shared.db import Database, make_engine
from shared.migrations import upgrade
from tests.conftest import make_settings
from tests.media.conftest import FILES, multipart
from tests.support.database import scratch_database
from tests.support.files import jpeg_bytes, photo_with_exif
from tests.support.identity import gateway_credential
from tests.support.servers import serving

DISK_MB = 8
KB = 1024


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs of the test's own, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.fail("this drill mounts a tmpfs and must run as root (CI does)")
    mount_point = tmp_path / "media"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.fixture
def media_on_small_volume(pg_server_url, redis_url, tmp_path, small_volume):
    with scratch_database(pg_server_url, "diskfull") as url:
        upgrade(media_service.MIGRATIONS, url)
        settings = make_settings(
            tmp_path, url, redis_url, MEDIA_ROOT=str(small_volume), MEDIA_QUOTA_MB="10240"
        )
        database = Database(make_engine(url, settings))
        try:
            app = media_service.create_app(settings, database=database)
            with serving(app) as base_url:
                yield base_url, settings, database
        finally:
            database.engine.dispose()


def headers_for(settings, user: str, role: str = "driver") -> dict[str, str]:
    return gateway_credential(settings.internal_secret_key, "media", user_id=user, role=role)


def post_file(url: str, settings, user: str, data: bytes) -> requests.Response:
    body, content_type = multipart(data)
    headers = {**headers_for(settings, user), "Content-Type": content_type}
    return requests.post(f"{url}{FILES}", data=body, headers=headers, timeout=30)


def fill_the_disk(path: Path) -> None:
    """Write into ``path`` until the filesystem has not a byte left."""
    # Unbuffered: each write reaches the filesystem, and the one that does not fit fails.
    with path.open("wb", buffering=0) as filler:
        while True:
            try:
                filler.write(b"\0" * 64 * KB)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


def accounting(database) -> tuple[int, int, int, int]:
    """Rows, their bytes, the usage row's used and reserved bytes, open reservations."""
    with database.sessionmaker() as db_session:
        rows = db_session.scalar(sa.select(sa.func.count()).select_from(MediaFile))
        stored = db_session.scalar(sa.select(sa.func.coalesce(sa.func.sum(MediaFile.size), 0)))
        usage = db_session.execute(sa.select(VolumeUsage)).scalar_one()
        open_reservations = db_session.scalar(
            sa.select(sa.func.count()).select_from(UploadReservation)
        )
    assert usage.used_bytes == stored
    return rows, usage.used_bytes, usage.reserved_bytes, open_reservations


def test_a_full_disk_is_507_insufficient_storage_and_reads_keep_working(media_on_small_volume):
    url, settings, database = media_on_small_volume
    root = settings.media_root
    user = str(uuid.uuid4())
    photos = []
    for _ in range(2):
        created = post_file(url, settings, user, photo_with_exif(width=800, height=600))
        assert created.status_code == 201, created.text
        photos.append(created.json()["id"])
    cached, not_yet = photos
    first_thumbnail = requests.get(
        f"{url}{FILES}/{cached}/thumbnail", headers=headers_for(settings, user), timeout=10
    )
    assert first_thumbnail.status_code == 200
    stored = {
        file_id: requests.get(
            f"{url}{FILES}/{file_id}/content", headers=headers_for(settings, user), timeout=10
        ).content
        for file_id in photos
    }
    assert all(body.startswith(b"\xff\xd8") for body in stored.values())  # JPEGs, not empty

    # Fill the disk through the API: the quota (10 GB) never says no, the disk does.
    answers = []
    while not answers or answers[-1].status_code == 201:
        answers.append(post_file(url, settings, user, jpeg_bytes(700 * KB)))
        assert len(answers) < 2 * DISK_MB / 0.7, "the disk never filled up"
    refused = answers[-1]
    assert refused.status_code == 507
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["error"]["code"] == "insufficient_storage"
    assert list((root / ".incoming").iterdir()) == []
    rows, used, reserved, open_reservations = accounting(database)
    assert (rows, reserved, open_reservations) == (len(answers) + 1, 0, 0)

    # Whatever room the last refusal left, another process takes it.
    fill_the_disk(root / "filler")
    tiny = post_file(url, settings, user, jpeg_bytes(20 * KB))
    assert tiny.status_code == 507
    assert tiny.json()["error"]["code"] == "insufficient_storage"
    assert list((root / ".incoming").iterdir()) == []
    assert accounting(database) == (rows, used, 0, 0)

    # Reads go on: metadata, bytes, the cached thumbnail, and one that cannot be cached.
    reader = headers_for(settings, user)
    for file_id in photos:
        metadata = requests.get(f"{url}{FILES}/{file_id}", headers=reader, timeout=10)
        assert (metadata.status_code, metadata.json()["id"]) == (200, file_id)
        content = requests.get(f"{url}{FILES}/{file_id}/content", headers=reader, timeout=10)
        assert (content.status_code, content.content) == (200, stored[file_id])
    again = requests.get(f"{url}{FILES}/{cached}/thumbnail", headers=reader, timeout=10)
    assert (again.status_code, again.content) == (200, first_thumbnail.content)
    uncached = requests.get(f"{url}{FILES}/{not_yet}/thumbnail", headers=reader, timeout=10)
    assert uncached.status_code == 200
    assert uncached.headers["Content-Type"] == "image/jpeg"
    assert uncached.content[:2] == b"\xff\xd8"
    assert list((root / ".incoming").iterdir()) == []
    manager = headers_for(settings, str(uuid.uuid4()), role="manager")
    usage = requests.get(f"{url}/api/v1/media/usage", headers=manager, timeout=10)
    assert (usage.status_code, usage.json()["used_bytes"]) == (200, used)

    # Room again: uploads work again, with nothing to repair.
    (root / "filler").unlink()
    assert post_file(url, settings, user, jpeg_bytes(20 * KB)).status_code == 201


def test_a_volume_remounted_read_only_is_503_storage_unavailable_and_reads_keep_working(
    media_on_small_volume,
):
    url, settings, database = media_on_small_volume
    user = str(uuid.uuid4())
    created = post_file(url, settings, user, jpeg_bytes(20 * KB))
    assert created.status_code == 201, created.text
    before = accounting(database)

    # What an operator meets after the kernel remounts a failing disk read-only.
    subprocess.run(["mount", "-o", "remount,ro", str(settings.media_root)], check=True)
    try:
        refused = post_file(url, settings, user, jpeg_bytes(20 * KB))
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage_unavailable"
        assert refused.headers["Retry-After"]
        assert accounting(database) == before
        reader = headers_for(settings, user)
        content = requests.get(
            f"{url}{FILES}/{created.json()['id']}/content", headers=reader, timeout=10
        )
        assert content.status_code == 200
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(settings.media_root)], check=True)
    assert post_file(url, settings, user, jpeg_bytes(20 * KB)).status_code == 201
