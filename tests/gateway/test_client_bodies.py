"""Slow, stalled and malformed request bodies, over real sockets: the gateway reads every
body but an upload whole, under a deadline, before a service is asked; an upload that
stalls is broken off; uploads in flight are bounded. A client's fault is its own 4xx."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from shared.config import ConfigError
from tests.gateway.conftest import access_token
from tests.support.rawhttp import RawResponse, read_response
from tests.support.servers import serving

VEHICLES = "/api/v1/fleet/vehicles"
UPLOAD = "/api/v1/media/files"


def open_request(base_url: str, head: str, body_start: bytes = b"") -> socket.socket:
    """A connection that has sent ``head`` (request line and headers) and ``body_start``."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head.encode("latin-1") + b"\r\n" + body_start)
    return sock


def request_head(method: str, path: str, token: str, **headers: str) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway.test", f"Authorization: Bearer {token}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n"


def json_head(app, *, length: int) -> str:
    """A JSON POST to the vehicles that promises ``length`` bytes of body."""
    return request_head(
        "POST",
        VEHICLES,
        access_token(app),
        Content_Type="application/json",
        Content_Length=str(length),
    )


def chunked_head(app) -> str:
    """A JSON POST to the vehicles whose body comes in chunks."""
    return request_head("POST", VEHICLES, access_token(app), Transfer_Encoding="chunked")


def assert_raw_json_error(response: RawResponse, status: int, code: str) -> None:
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]


# --- every body but an upload: read whole, under a deadline ---------------------------------


def test_a_stalled_body_gets_408_at_the_deadline_and_the_service_never_sees_it(
    make_gateway, upstream
):
    app = make_gateway(BODY_READ_TIMEOUT_SECONDS="0.5")
    with serving(app) as url:
        head = json_head(app, length=100)
        started = time.monotonic()
        with open_request(url, head, b'{"plate": ') as sock:
            response = read_response(sock)
        elapsed = time.monotonic() - started
    assert_raw_json_error(response, 408, "request_timeout")
    assert 0.4 < elapsed < 2.0
    assert upstream.received == []


def test_a_trickled_body_gets_408_at_the_deadline_however_often_bytes_arrive(
    make_gateway, upstream
):
    """One byte every 0.1 s never lets a per-read timeout fire; the deadline is for the
    whole body."""
    app = make_gateway(BODY_READ_TIMEOUT_SECONDS="0.8")
    with serving(app) as url:
        head = json_head(app, length=500)
        started = time.monotonic()
        with open_request(url, head) as sock:
            stop = threading.Event()

            def trickle() -> None:
                while not stop.wait(0.1):
                    try:
                        sock.send(b" ")
                    except OSError:
                        return

            trickler = threading.Thread(target=trickle)
            trickler.start()
            try:
                response = read_response(sock)
            finally:
                stop.set()
                trickler.join(5)
        elapsed = time.monotonic() - started
    assert_raw_json_error(response, 408, "request_timeout")
    assert 0.7 < elapsed < 2.5
    assert upstream.received == []


def test_a_chunked_body_that_stalls_gets_408_too(make_gateway, upstream):
    app = make_gateway(BODY_READ_TIMEOUT_SECONDS="0.5")
    with serving(app) as url:
        head = chunked_head(app)
        with open_request(url, head, b"5\r\nhello\r\n") as sock:
            response = read_response(sock)
    assert_raw_json_error(response, 408, "request_timeout")
    assert upstream.received == []


def test_a_body_sent_in_time_reaches_the_service_with_its_length(make_gateway, upstream):
    app = make_gateway(BODY_READ_TIMEOUT_SECONDS="2")
    body = json.dumps({"plate": "ABC1D23", "note": "x" * 200_000}).encode()  # spills to disk
    with serving(app) as url:
        head = json_head(app, length=len(body))
        with open_request(url, head, body[:1000]) as sock:
            time.sleep(0.3)  # slow, not stalled: within the deadline
            sock.sendall(body[1000:])
            response = read_response(sock)
    assert response.status == 200
    seen = upstream.only()
    assert seen.body == body
    assert seen.header("Content-Length") == str(len(body))


@pytest.mark.parametrize(
    ("name", "chunked_body"),
    [
        pytest.param("bad size", b"zz\r\nhello\r\n0\r\n\r\n", id="bad chunk size"),
        pytest.param("no terminator", b"5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n", id="no CRLF"),
    ],
)
def test_a_malformed_chunked_body_is_400_json_and_never_reaches_the_service(
    gateway_app, upstream, name, chunked_body
):
    with serving(gateway_app) as url:
        head = chunked_head(gateway_app)
        with open_request(url, head, chunked_body) as sock:
            response = read_response(sock)
    assert response.status == 400, (name, response)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "malformed_body"
    assert upstream.received == []


def test_a_chunked_body_cut_off_is_400_json(gateway_app, upstream):
    with serving(gateway_app) as url:
        head = chunked_head(gateway_app)
        with open_request(url, head, b"a\r\nonly") as sock:
            sock.shutdown(socket.SHUT_WR)  # the client is done sending: the body is truncated
            response = read_response(sock)
    assert_raw_json_error(response, 400, "malformed_body")
    assert upstream.received == []


# --- uploads: streamed, broken off when they stall, bounded in number -----------------------


class SocketService:
    """A stand-in service on a bare listening socket, its ``_serve`` run from a thread.

    A subclass sets what ``_serve`` uses before calling ``super().__init__()``.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop listening, and the thread blocked accepting with it.

        close() alone does not wake the blocked accept(), which keeps the port
        listening and would answer one later connection of another test.
        shutdown() does: accept() fails at once and the thread ends.
        """
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(5)


class MediaStandIn(SocketService):
    """A service that reads each request off the wire the way a thread of the media service
    does — headers, then the body to its Content-Length — and records how each ended: a
    whole body is answered 200, one the gateway stops sending short of its length is
    recorded as broken off."""

    def __init__(self) -> None:
        self.started: list[str] = []  # request lines, as soon as the headers are in
        self.completed: list[str] = []
        self.broken_off: list[int] = []  # bytes of body read before the stream ended
        super().__init__()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    if not (more := conn.recv(65536)):
                        return
                    data += more
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                self.started.append(lines[0])
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                while len(body) < length:
                    if not (more := conn.recv(65536)):
                        break
                    body += more
            except OSError:
                body, length = b"", 1
            if len(body) < length:
                self.broken_off.append(len(body))
                return
            self.completed.append(lines[0])
            answer = b'{"ok": true}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
            )


@pytest.fixture
def media() -> Iterator[MediaStandIn]:
    server = MediaStandIn()
    yield server
    server.close()


def upload_head(app, *, user_id: str | None = None, length: int = 1_000_000) -> str:
    return request_head(
        "POST",
        UPLOAD,
        access_token(app, user_id=user_id),
        Content_Type="image/jpeg",
        Content_Length=str(length),
    )


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_stalled_upload_is_broken_off_upstream_and_answered_408(make_gateway, media):
    app = make_gateway(MEDIA_URL=media.url, CLIENT_IDLE_TIMEOUT_SECONDS="0.5")
    with serving(app) as url:
        started = time.monotonic()
        with open_request(url, upload_head(app), b"\xff" * 300_000) as sock:
            response = read_response(sock)
        elapsed = time.monotonic() - started
    assert_raw_json_error(response, 408, "request_timeout")
    assert 0.4 < elapsed < 3.0
    # The media service saw its request end short of the Content-Length: broken off,
    # so it cleans up instead of waiting for the rest.
    assert wait_for(lambda: media.broken_off)
    assert 0 < media.broken_off[0] < 1_000_000
    assert media.completed == []


def test_a_slow_upload_that_keeps_sending_is_not_cut_off(make_gateway, upstream):
    app = make_gateway(CLIENT_IDLE_TIMEOUT_SECONDS="0.5")
    data = bytes(range(256)) * 400
    step = len(data) // 5
    with serving(app) as url, open_request(url, upload_head(app, length=len(data))) as sock:
        for start in range(0, len(data), step):
            sock.sendall(data[start : start + step])
            time.sleep(0.3)  # under the idle timeout each time; 1.5 s in all
        response = read_response(sock)
    assert response.status == 200
    assert upstream.only().body == data


def test_uploads_in_flight_are_bounded_per_service_and_per_user(make_gateway, media):
    app = make_gateway(
        MEDIA_URL=media.url,
        CLIENT_IDLE_TIMEOUT_SECONDS="1.5",
        MAX_UPLOADS_IN_FLIGHT="2",
        MAX_UPLOADS_IN_FLIGHT_PER_USER="1",
    )
    alice, bob, carol = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))
    small = b"\xff" * 1000
    with serving(app) as url:
        alice_stalls = open_request(url, upload_head(app, user_id=alice), b"\xff" * 1000)
        assert wait_for(lambda: len(media.started) == 1)  # alice's upload holds a slot
        # A second slot for the same user is refused at once, not queued.
        started = time.monotonic()
        with open_request(url, upload_head(app, user_id=alice, length=1000), small) as sock:
            refused = read_response(sock)
        assert time.monotonic() - started < 1.0
        assert_raw_json_error(refused, 503, "too_many_uploads")
        assert refused.headers["retry-after"].isdigit()
        # Another user's upload goes through while alice's is stalled.
        with open_request(url, upload_head(app, user_id=bob, length=1000), small) as sock:
            assert read_response(sock).status == 200
        bob_stalls = open_request(url, upload_head(app, user_id=bob), b"\xff" * 1000)
        # Now both of the service's slots are held (bob's earlier upload completed).
        assert wait_for(lambda: len(media.started) == 3)
        with open_request(url, upload_head(app, user_id=carol, length=1000), small) as sock:
            assert_raw_json_error(read_response(sock), 503, "too_many_uploads")
        # Other routes of the service are not held up by the uploads.
        with open_request(
            url, request_head("GET", "/api/v1/media/usage", access_token(app))
        ) as sock:
            assert read_response(sock).status == 200
        # The stalled ones are cut off at the idle timeout, and their slots come back.
        for sock in (alice_stalls, bob_stalls):
            assert_raw_json_error(read_response(sock), 408, "request_timeout")
            sock.close()
        with open_request(url, upload_head(app, user_id=carol, length=1000), small) as sock:
            assert read_response(sock).status == 200
    assert wait_for(lambda: len(media.broken_off) == 2)


# --- downloads: a client that stops reading does not hold the service's thread --------------


class EndlessDownload(SocketService):
    """A service that answers any request with a body it never finishes, as a thread of
    the media service streaming a large file does, and records when its writing fails."""

    def __init__(self) -> None:
        self.write_failed = threading.Event()
        super().__init__()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            try:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                    b"Content-Length: 10000000000\r\n\r\n"
                )
                while True:
                    conn.sendall(b"\xff" * 65536)
            except OSError:
                self.write_failed.set()


def test_a_client_that_stops_reading_a_download_frees_the_service_thread(make_gateway):
    service = EndlessDownload()
    app = make_gateway(MEDIA_URL=service.url, CLIENT_IDLE_TIMEOUT_SECONDS="0.5")
    try:
        with serving(app) as url:
            head = request_head("GET", "/api/v1/media/files/x/content", access_token(app))
            with open_request(url, head) as sock:
                assert sock.recv(100).startswith(b"HTTP/1.1 200")
                # ... and the client reads no more, but keeps the connection open.
                assert service.write_failed.wait(10), "the service is still writing"
    finally:
        service.close()


# --- settings that would refuse every request --------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BODY_BUFFER_MB": "1", "JSON_MAX_BODY_KB": "2048"}, "BODY_BUFFER_MB"),
        ({"MAX_UPLOADS_IN_FLIGHT": "0"}, "MAX_UPLOADS_IN_FLIGHT"),
        ({"MAX_UPLOADS_IN_FLIGHT_PER_USER": "0"}, "MAX_UPLOADS_IN_FLIGHT"),
    ],
)
def test_limits_that_would_refuse_every_body_or_upload_are_refused_at_start(
    make_gateway, env, named
):
    with pytest.raises(ConfigError, match=named):
        make_gateway(**env)
