"""The volume quota holds under real concurrent requests, and usage stays exact.

These tests talk HTTP to a real threaded server on a committed database, so
that requests truly overlap and a client can really hang up mid-upload.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

import media_service
from media_service.models import MediaFile, UploadReservation, VolumeUsage
from media_service.quota import STALE_RESERVATION_AGE
from tests.media.conftest import (
    FILES,
    MB,
    multipart,
    stored_files,
    upload,
    usage_row,
)
from tests.support.files import jpeg_bytes
from tests.support.identity import gateway_credential
from tests.support.servers import serving


def credential(settings, *, user, role="driver"):
    return gateway_credential(settings.internal_secret_key, "media", user_id=user, role=role)


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_concurrent_uploads_never_cross_the_quota_and_usage_stays_exact(
    committed_settings, committed_database
):
    # Quota 2 MB: two 900 KB files fit, a third does not, however they interleave
    # (each is within one reservation step, so reserved whole before its body is read).
    committed_settings = committed_settings.replace(media_quota_mb=2)
    app = media_service.create_app(committed_settings, database=committed_database)
    with serving(app) as live_media:
        results = upload_three_at_once(live_media, committed_settings)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 201, 507]
    refused = next(body for status, body in results if status == 507)
    assert refused["error"]["code"] == "quota_exceeded"
    stored = [body["size"] for status, body in results if status == 201]

    with committed_database.sessionmaker() as db_session:
        usage = usage_row(db_session)
        assert (usage.used_bytes, usage.reserved_bytes) == (sum(stored), 0)
        assert db_session.scalar(sa.select(sa.func.sum(MediaFile.size))) == sum(stored)
        assert db_session.scalar(sa.select(sa.func.count()).select_from(MediaFile)) == 2
    files = [p for p in stored_files(committed_settings.media_root) if ".incoming" not in p.parts]
    assert sorted(p.stat().st_size for p in files) == sorted(stored)


def upload_three_at_once(live_media, committed_settings):
    user = str(uuid.uuid4())
    start = threading.Barrier(3)
    results = []

    def send(n):
        body, content_type = multipart(jpeg_bytes(900 * 1024 + n))
        headers = {**credential(committed_settings, user=user), "Content-Type": content_type}
        start.wait()
        with requests.post(f"{live_media}{FILES}", data=body, headers=headers, timeout=30) as r:
            results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_upload_cut_off_midway_leaves_no_file_no_row_and_no_reservation(
    live_media, committed_settings, committed_database
):
    body, content_type = multipart(jpeg_bytes(5 * MB))
    address = urlsplit(live_media)
    headers = {
        **credential(committed_settings, user=str(uuid.uuid4())),
        "Host": address.netloc,
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
    }
    request_head = "POST /api/v1/media/files HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    incoming = committed_settings.media_root / ".incoming"

    with socket.create_connection((address.hostname, address.port)) as client:
        client.sendall(request_head.encode() + b"\r\n" + body[: 1 * MB])
        # The server is streaming the body to a temporary file on the volume ...
        wait_until(lambda: any(p.stat().st_size > 0 for p in stored_files(incoming)))
    # ... when the client hangs up.

    def nothing_left():
        with committed_database.sessionmaker() as db_session:
            reservations = db_session.scalar(
                sa.select(sa.func.count()).select_from(UploadReservation)
            )
            return reservations == 0 and stored_files(committed_settings.media_root) == []

    wait_until(nothing_left)
    with committed_database.sessionmaker() as db_session:
        assert db_session.scalar(sa.select(sa.func.count()).select_from(MediaFile)) == 0
        usage = usage_row(db_session)
        assert (usage.used_bytes, usage.reserved_bytes) == (0, 0)


def test_quota_exceeded_is_507_and_changes_nothing(media_api, settings, db_session):
    nearly_full = settings.media_quota_mb * MB - 1000
    db_session.execute(sa.update(VolumeUsage).values(used_bytes=nearly_full))
    db_session.commit()
    response = upload(media_api, jpeg_bytes(5000), user=str(uuid.uuid4()))
    assert response.status_code == 507
    assert response.json["error"]["code"] == "quota_exceeded"
    assert stored_files(settings.media_root) == []
    usage = usage_row(db_session)
    assert (usage.used_bytes, usage.reserved_bytes) == (nearly_full, 0)


def test_a_refused_upload_gives_its_reservation_back(media_api, db_session):
    response = upload(media_api, b"<html></html>", user=str(uuid.uuid4()))
    assert response.status_code == 415
    usage = usage_row(db_session)
    assert (usage.used_bytes, usage.reserved_bytes) == (0, 0)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(UploadReservation)) == 0


def test_space_held_by_a_dead_uploads_reservation_is_released_when_an_upload_needs_it(
    media_api, settings, db_session
):
    # A worker killed mid-upload left a reservation of nearly the whole quota behind.
    quota = settings.media_quota_mb * MB
    silent_since = datetime.now(UTC) - STALE_RESERVATION_AGE - timedelta(seconds=5)
    db_session.add(UploadReservation(bytes=quota - 1000, renewed_at=silent_since))
    db_session.execute(sa.update(VolumeUsage).values(reserved_bytes=quota - 1000))
    db_session.commit()

    response = upload(media_api, jpeg_bytes(50_000), user=str(uuid.uuid4()))

    assert response.status_code == 201, response.json
    usage = usage_row(db_session)
    assert (usage.used_bytes, usage.reserved_bytes) == (50_000, 0)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(UploadReservation)) == 0


def test_a_live_uploads_reservation_is_not_taken_away(media_api, settings, db_session):
    quota = settings.media_quota_mb * MB
    db_session.add(UploadReservation(bytes=quota - 1000))  # renewed just now
    db_session.execute(sa.update(VolumeUsage).values(reserved_bytes=quota - 1000))
    db_session.commit()

    response = upload(media_api, jpeg_bytes(50_000), user=str(uuid.uuid4()))

    assert response.status_code == 507
    assert response.json["error"]["code"] == "quota_exceeded"
    assert usage_row(db_session).reserved_bytes == quota - 1000
