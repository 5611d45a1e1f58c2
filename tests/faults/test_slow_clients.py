"""Slow and stalled clients against the real stack (gunicorn, gevent gateway, gthread
services with 4 threads each): many more stalled connections than a service has
threads, on login, on an authenticated write and on uploads, while a normal client's
requests stay fast. The stalled ones are answered 408 at the deadline."""

from __future__ import annotations

import json
import random
import select
import socket
import statistics
import string
import time

import psutil
import requests

from tests.e2e.conftest import NO_RATE_LIMITS, RunningStack, module_stack
from tests.e2e.helpers import USER_PASSWORD, db_user, db_user_id, stored_media, token_for
from tests.support.files import jpeg_bytes
from tests.support.rawhttp import read_response

SERVICE_THREADS = 4  # WEB_CONCURRENCY=1 below: one gthread worker, 4 threads, per service
BODY_DEADLINE = 4.0
UPLOAD_IDLE = 3.0
STALLED_PER_ROUTE = 10 * SERVICE_THREADS
BODY_BUFFER_MB = 16  # per gateway worker
VEHICLE = {"make": "Fiat", "model": "Uno", "year": 2020, "fuel_types": ["gasoline"]}
ANSWERED = {"login": 200, "read": 200, "write": 201}


stack = module_stack(
    "slow-clients-var",
    gateway_workers=2,
    WEB_CONCURRENCY="1",
    BODY_READ_TIMEOUT_SECONDS=str(BODY_DEADLINE),
    BODY_BUFFER_MB=str(BODY_BUFFER_MB),
    CLIENT_IDLE_TIMEOUT_SECONDS=str(UPLOAD_IDLE),
    MEDIA_MAX_UPLOAD_MB="2",
    # The normal client logs in over and over while the stalled ones wait:
    # this drill is about threads, not login limits (tests/auth has those).
    **NO_RATE_LIMITS,
)


def stalled_request(stack: RunningStack, head: str, body_start: bytes) -> socket.socket:
    """Headers promising a body, the first bytes of it, and then nothing."""
    sock = socket.create_connection(("127.0.0.1", stack.settings.gateway_port), timeout=15)
    sock.sendall(head.encode("latin-1") + b"\r\n" + body_start)
    return sock


def head(method: str, path: str, length: int, token: str | None = None, **headers: str) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: frota.test", f"Content-Length: {length}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n"


def read_status_and_body(sock: socket.socket) -> tuple[int, dict]:
    response = read_response(sock)
    return response.status, response.json()


def plate() -> str:
    """A fresh Mercosul plate (ABC1D23)."""
    letters = "".join(random.choices(string.ascii_uppercase, k=3))
    digit, letter = random.randint(0, 9), random.choice(string.ascii_uppercase)
    return f"{letters}{digit}{letter}{random.randint(10, 99)}"


def test_stalled_bodies_get_408_while_logins_reads_and_writes_stay_fast(stack):
    user_id, username = db_user(stack)
    token = token_for(stack, user_id)
    login_body = json.dumps({"username": username, "password": USER_PASSWORD})
    vehicle = json.dumps({**VEHICLE, "plate": plate()})
    opened = time.monotonic()
    stalled = [
        stalled_request(
            stack,
            head("POST", "/api/v1/auth/login", len(login_body), Content_Type="application/json"),
            login_body[:12].encode(),
        )
        for _ in range(STALLED_PER_ROUTE)
    ] + [
        stalled_request(
            stack,
            head(
                "POST",
                "/api/v1/fleet/vehicles",
                len(vehicle),
                token,
                Content_Type="application/json",
            ),
            vehicle[:12].encode(),
        )
        for _ in range(STALLED_PER_ROUTE)
    ]
    try:
        time.sleep(0.5)  # every stalled request is in; the old gateway had them at a service
        latencies: dict[str, list[float]] = {"login": [], "read": [], "write": []}
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {token}"
            while time.monotonic() - opened < BODY_DEADLINE - 0.8:
                for kind, call in (
                    (
                        "login",
                        lambda: http.post(
                            f"{stack.url}/api/v1/auth/login",
                            json={"username": username, "password": USER_PASSWORD},
                            headers={"Authorization": None},
                            timeout=5,
                        ),
                    ),
                    ("read", lambda: http.get(f"{stack.url}/api/v1/fleet/vehicles", timeout=5)),
                    (
                        "write",
                        lambda: http.post(
                            f"{stack.url}/api/v1/fleet/vehicles",
                            json={**VEHICLE, "plate": plate()},
                            timeout=5,
                        ),
                    ),
                ):
                    started = time.monotonic()
                    response = call()
                    latencies[kind].append(time.monotonic() - started)
                    assert response.status_code == ANSWERED[kind], (kind, response.text)
        everything = [t for times in latencies.values() for t in times]
        print(
            f"\n{len(stalled)} stalled clients ({SERVICE_THREADS} threads per service); "
            + ", ".join(
                f"{kind}: n={len(times)} p50={statistics.median(times) * 1000:.0f} ms "
                f"max={max(times) * 1000:.0f} ms"
                for kind, times in latencies.items()
            )
        )
        assert all(len(times) >= 2 for times in latencies.values()), latencies
        assert statistics.median(everything) < 0.5
        assert max(everything) < 2.0

        # Each stalled client is answered 408 JSON at the deadline, not before.
        for sock in stalled:
            status, body = read_status_and_body(sock)
            assert (status, body["error"]["code"]) == (408, "request_timeout")
        answered_after = time.monotonic() - opened
        print(f"all stalled answered 408 {answered_after:.2f} s after they were opened")
        assert BODY_DEADLINE - 0.5 < answered_after < BODY_DEADLINE + 5
    finally:
        for sock in stalled:
            sock.close()


def media_state(stack: RunningStack) -> tuple[int, int]:
    """Rows in media.files and files on the volume (temp files included)."""
    rows, files = stored_media(stack)
    return rows, len(files)


def test_stalled_uploads_are_cut_off_while_another_users_upload_succeeds(stack):
    attacker = token_for(stack, db_user_id(stack))
    other = {"Authorization": f"Bearer {token_for(stack, db_user_id(stack))}"}
    before = media_state(stack)
    boundary = "stall"
    part_head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    opened = time.monotonic()
    stalled = [
        stalled_request(
            stack,
            head(
                "POST",
                "/api/v1/media/files",
                1_500_000,
                attacker,
                Content_Type=f"multipart/form-data; boundary={boundary}",
            ),
            part_head + jpeg_bytes(100_000),
        )
        for _ in range(3 * SERVICE_THREADS)
    ]
    try:
        # Another user's upload goes through meanwhile (one slot per user per gateway
        # worker: the attacker cannot hold them all), and the rest of media answers.
        started = time.monotonic()
        uploaded = requests.post(
            f"{stack.url}/api/v1/media/files",
            headers=other,
            files={"file": ("photo.jpg", jpeg_bytes(200_000), "image/jpeg")},
            timeout=10,
        )
        upload_seconds = time.monotonic() - started
        assert uploaded.status_code == 201, uploaded.text
        usage = requests.get(f"{stack.url}/api/v1/media/usage", headers=other, timeout=5)
        assert usage.status_code == 200
        # Over the bound the answer came at once: every socket but the held ones has its
        # answer well before the idle timeout.
        answered: set[socket.socket] = set()
        deadline = opened + UPLOAD_IDLE - 0.5
        while True:
            wait = max(0.0, min(0.1, deadline - time.monotonic()))
            waiting = [sock for sock in stalled if sock not in answered]
            answered.update(select.select(waiting, [], [], wait)[0])
            if time.monotonic() >= deadline:
                break
        held = [sock for sock in stalled if sock not in answered]
        for sock in answered:
            status, body = read_status_and_body(sock)
            assert (status, body["error"]["code"]) == (503, "too_many_uploads")
        refused = len(answered)
        assert 1 <= len(held) <= 2  # two gateway workers
        print(
            f"\n{len(stalled)} stalled uploads: {len(held)} held, {refused} refused at once; "
            f"another user's upload took {upload_seconds * 1000:.0f} ms"
        )
        # The held ones are cut off at the idle timeout: 408, and nothing left behind.
        for sock in held:
            sock.settimeout(UPLOAD_IDLE + 5)
            status, body = read_status_and_body(sock)
            assert (status, body["error"]["code"]) == (408, "request_timeout")
            # ... and the connection is closed, not kept waiting for the rest of the body.
            sock.settimeout(2)
            assert sock.recv(1) == b""
        cut_off_after = time.monotonic() - opened
        print(f"held uploads cut off {cut_off_after:.2f} s after their last byte")
        assert UPLOAD_IDLE - 0.5 < cut_off_after < UPLOAD_IDLE + 5
    finally:
        for sock in stalled:
            sock.close()
    expected = (before[0] + 1, before[1] + 1)  # the other user's photo
    deadline = time.monotonic() + 10
    while media_state(stack)[1] > expected[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert media_state(stack)[0] == expected[0]
    assert media_state(stack)[1] <= expected[1] + 1  # its thumbnail, when one is made


def gateway_rss(stack: RunningStack) -> int:
    master = psutil.Process(stack.stack.processes["gateway"].pid)
    return sum(worker.memory_info().rss for worker in master.children())


def test_many_large_stalled_bodies_do_not_grow_the_gateway_past_its_buffer_budget(stack):
    """Bodies are buffered at the gateway now: 150 clients each sending 1 MB less a few
    bytes, then stalling, must not hold 150 MB of the gateway's memory."""
    token = token_for(stack, db_user_id(stack))
    length = 1024 * 1024
    before = gateway_rss(stack)
    stalled = []
    answers: list[tuple[int, str]] = []
    opened = time.monotonic()
    try:
        for _ in range(150):
            sock = stalled_request(
                stack,
                head(
                    "POST", "/api/v1/fleet/vehicles", length, token, Content_Type="application/json"
                ),
                b"[" + b" " * (length - 10),
            )
            stalled.append(sock)
        # Just before the deadline: every byte sent has been read (or refused) by now.
        time.sleep(max(0.0, opened + BODY_DEADLINE - 0.7 - time.monotonic()))
        grown = gateway_rss(stack) - before
        for sock in stalled:
            status, body = read_status_and_body(sock)
            answers.append((status, body["error"]["code"]))
    finally:
        for sock in stalled:
            sock.close()
    held = answers.count((408, "request_timeout"))
    refused = answers.count((503, "gateway_busy"))
    print(
        f"\n150 stalled 1 MB bodies: {held} held to the deadline, {refused} refused at once; "
        f"gateway workers grew by {grown / 2**20:.1f} MiB (budget 2 x {BODY_BUFFER_MB} MiB)"
    )
    assert held + refused == 150
    assert refused > 0
    assert grown < (2 * BODY_BUFFER_MB + 24) * 2**20
