"""Stalled and slow uploads do not hold the quota, and the service does not wait for them forever.

Real sockets to a real threaded server on a committed database: clients that
send their headers and a little of the body, then nothing.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

import media_service
from media_service.models import UploadReservation
from media_service.quota import RESERVATION_STEP
from tests.e2e.conftest import running_stack
from tests.media.conftest import FILES, MB, multipart, stored_files, usage_row
from tests.media.test_quota import credential, wait_until
from tests.support.files import jpeg_bytes
from tests.support.servers import serving

STALLED_DECLARED = 8  # clients that declare a Content-Length (9 MB each)
STALLED_CHUNKED = 8  # clients that send a chunked body (no length at all)
# The old scheme reserved the 8 declarations (72 MB) until two filled it, and
# the chunked bodies each the whole 50 MB per-file limit: none of them fit.
QUOTA_MB = 24


def upload_head(url: str, headers: dict[str, str], *, chunked: bool, length: int = 0) -> bytes:
    address = urlsplit(url)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(length)}
    lines = {**headers, "Host": address.netloc, **framing}
    return (
        f"POST {FILES} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items()) + "\r\n"
    ).encode()


@contextmanager
def stalled_uploads(url: str, settings, *, declared: int, chunked: int) -> Iterator[list]:
    """Clients that send 100 KB of a photo, then nothing; their open sockets."""
    address = urlsplit(url)
    part = jpeg_bytes(100 * 1024)
    body, content_type = multipart(part + jpeg_bytes(9 * MB - len(part) - 1024))
    start = body[: 100 * 1024]
    with ExitStack() as stack:
        sockets = []
        for n in range(declared + chunked):
            headers = {
                **credential(settings, user=str(uuid.uuid4())),
                "Content-Type": content_type,
            }
            sock = stack.enter_context(socket.create_connection((address.hostname, address.port)))
            if n < declared:
                sock.sendall(upload_head(url, headers, chunked=False, length=len(body)) + start)
            else:
                chunk = f"{len(start):x}\r\n".encode() + start + b"\r\n"
                sock.sendall(upload_head(url, headers, chunked=True) + chunk)
            sockets.append(sock)
        yield sockets


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), json.loads(rest[:length])


def reservations(database) -> int:
    with database.sessionmaker() as db_session:
        return db_session.scalar(sa.select(sa.func.count()).select_from(UploadReservation)) or 0


def reserved_bytes(database) -> int:
    with database.sessionmaker() as db_session:
        return usage_row(db_session).reserved_bytes


def test_stalled_uploads_hold_one_step_each_while_another_users_upload_succeeds(
    committed_settings, committed_database
):
    settings = committed_settings.replace(media_quota_mb=QUOTA_MB, media_upload_idle_seconds=30)
    app = media_service.create_app(settings, database=committed_database)
    stalled = STALLED_DECLARED + STALLED_CHUNKED
    with (
        serving(app) as url,
        stalled_uploads(url, settings, declared=STALLED_DECLARED, chunked=STALLED_CHUNKED),
    ):
        wait_until(lambda: reservations(committed_database) == stalled)
        # Each has streamed its 100 KB into a temporary file and waits, holding one step.
        held = stalled * RESERVATION_STEP
        wait_until(lambda: reserved_bytes(committed_database) == held)
        assert held < settings.media_quota_mb * MB

        photo = jpeg_bytes(6 * MB)
        body, content_type = multipart(photo)
        headers = {**credential(settings, user=str(uuid.uuid4())), "Content-Type": content_type}
        started = time.monotonic()
        response = requests.post(f"{url}{FILES}", data=body, headers=headers, timeout=10)
        elapsed = time.monotonic() - started

        assert response.status_code == 201, response.text
        assert response.json()["size"] == len(photo)
        assert elapsed < 2.0
        with committed_database.sessionmaker() as db_session:
            usage = usage_row(db_session)
        assert usage.used_bytes == len(photo)
        assert usage.reserved_bytes == held


def test_a_stalled_upload_is_cut_off_with_408_and_gives_everything_back(
    committed_settings, committed_database
):
    settings = committed_settings.replace(media_upload_idle_seconds=1.0)
    app = media_service.create_app(settings, database=committed_database)
    with (
        serving(app) as url,
        stalled_uploads(url, settings, declared=2, chunked=2) as sockets,
    ):
        wait_until(lambda: reservations(committed_database) == 4)
        started = time.monotonic()
        answers = [read_response(sock, timeout=10) for sock in sockets]
        elapsed = time.monotonic() - started

    assert [status for status, _ in answers] == [408] * 4
    assert {body["error"]["code"] for _, body in answers} == {"request_timeout"}
    assert elapsed < 5
    wait_until(lambda: reservations(committed_database) == 0)
    assert stored_files(settings.media_root) == []
    with committed_database.sessionmaker() as db_session:
        usage = usage_row(db_session)
    assert (usage.used_bytes, usage.reserved_bytes) == (0, 0)


def test_gunicorn_media_workers_cut_off_a_stalled_upload_and_keep_serving(pg_server_url, tmp_path):
    # gthread reads bodies on blocking sockets with no timeout of their own: without
    # the route's socket timeout, these would hold all 4 threads of the one worker.
    with running_stack(
        pg_server_url,
        tmp_path,
        parts=("media",),
        WEB_CONCURRENCY="1",
        MEDIA_UPLOAD_IDLE_SECONDS="1",
    ) as running:
        url = running.service_url("media")
        settings = running.settings
        with stalled_uploads(url, settings, declared=2, chunked=2) as sockets:
            started = time.monotonic()
            answers = [read_response(sock, timeout=10) for sock in sockets]
            elapsed = time.monotonic() - started
        health = requests.get(f"{url}/health", timeout=5)

    assert [status for status, _ in answers] == [408] * 4
    assert {body["error"]["code"] for _, body in answers} == {"request_timeout"}
    assert elapsed < 5
    assert health.status_code == 200
