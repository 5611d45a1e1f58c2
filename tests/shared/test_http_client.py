"""The service-to-service client against real servers that fail it in each way they can:
every failure becomes the answer the caller should give, never a 500."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypedDict, Unpack

import jwt
import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.errors import APIError
from shared.http_client import ServiceClient
from shared.internal_auth import ALGORITHM, INTERNAL_TOKEN_HEADER
from tests.conftest import make_settings

SECRET = "test-internal-secret-" + "z" * 40


@contextmanager
def serving(answer: Callable[[Request], Response]) -> Iterator[tuple[str, list[str]]]:
    """Serve ``answer`` from a thread; yield its URL and the paths it was asked for."""
    asked: list[str] = []

    @Request.application
    def app(request: Request) -> Response:
        asked.append(request.path)
        return answer(request)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


class Timeouts(TypedDict, total=False):
    connect_timeout: float
    read_timeout: float


def client(url: str, **timeouts: Unpack[Timeouts]) -> ServiceClient:
    return ServiceClient(caller="fleet", target="media", base_url=url, secret=SECRET, **timeouts)


def refused(url: str) -> APIError:
    with pytest.raises(APIError) as caught:
        client(url).find("/internal/files/1")
    return caught.value


def test_a_503_is_passed_on_once_with_its_code_and_retry_after():
    def database_down(_request: Request) -> Response:
        body = '{"error": {"code": "database_unavailable", "message": "The database is down"}}'
        return Response(body, 503, {"Retry-After": "7"}, mimetype="application/json")

    with serving(database_down) as (url, asked):
        error = refused(url)
    assert error.status_code == 503
    assert error.code == "database_unavailable"
    assert error.message == "The database is down"
    assert error.headers == {"Retry-After": "7"}
    # Not retried: the other service said when to come back, and that is the client's call.
    assert asked == ["/internal/files/1"]


def test_a_503_without_our_error_body_is_service_unavailable_and_relays_nothing_odd():
    def proxy_page(_request: Request) -> Response:
        return Response("<h1>503</h1>", 503, {"Retry-After": "soon\x7f"}, mimetype="text/html")

    with serving(proxy_page) as (url, _):
        error = refused(url)
    assert error.status_code == 503
    assert error.code == "service_unavailable"
    assert error.headers == {"Retry-After": "5"}


@pytest.mark.parametrize("status", [500, 401, 429, 502])
def test_any_other_failure_status_is_502(status):
    with serving(lambda _request: Response("{}", status)) as (url, _):
        error = refused(url)
    assert (error.status_code, error.code) == (502, "upstream_unavailable")


def test_an_answer_that_is_not_a_json_object_is_502():
    with serving(lambda _request: Response("<html>hello</html>", 200)) as (url, _):
        error = refused(url)
    assert (error.status_code, error.code) == (502, "upstream_unavailable")
    with serving(lambda _request: Response("[1, 2]", 200)) as (url, _):
        error = refused(url)
    assert (error.status_code, error.code) == (502, "upstream_unavailable")


def test_a_404_is_none_and_a_200_is_the_body():
    def files(request: Request) -> Response:
        if request.path.endswith("/1"):
            return Response('{"id": "1"}', 200, mimetype="application/json")
        return Response('{"error": {"code": "file_not_found"}}', 404)

    with serving(files) as (url, _):
        assert client(url).find("/internal/files/1") == {"id": "1"}
        assert client(url).find("/internal/files/2") is None


def test_a_refused_connection_is_502():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    error = refused(dead_url)
    assert (error.status_code, error.code) == (502, "upstream_unavailable")


def test_a_connection_cut_off_mid_answer_is_502():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def half_answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id"')

        thread = threading.Thread(target=half_answer)
        thread.start()
        error = refused(f"http://127.0.0.1:{listener.getsockname()[1]}")
        thread.join(5)
    assert (error.status_code, error.code) == (502, "upstream_unavailable")


def test_a_service_slower_than_the_read_timeout_is_504():
    def slow(_request: Request) -> Response:
        time.sleep(1.0)
        return Response('{"id": "1"}', 200)

    with serving(slow) as (url, _):
        started = time.monotonic()
        with pytest.raises(APIError) as caught:
            client(url, read_timeout=0.2).find("/internal/files/1")
        elapsed = time.monotonic() - started
    assert (caught.value.status_code, caught.value.code) == (504, "upstream_timeout")
    assert elapsed < 0.9


def test_the_calls_of_one_request_share_one_read_timeout():
    # An inspection citing many photos of a slow media service: one read timeout in all,
    # not one per photo (the gateway has long answered 504 by then).
    def slowish(_request: Request) -> Response:
        time.sleep(0.4)
        return Response('{"id": "1"}', 200)

    with serving(slowish) as (url, asked), Flask(__name__).test_request_context():
        media = client(url, read_timeout=1.0)

        def inspection_citing_ten_photos() -> None:
            for n in range(10):
                media.find(f"/internal/files/{n}")

        started = time.monotonic()
        with pytest.raises(APIError) as caught:
            inspection_citing_ten_photos()
        elapsed = time.monotonic() - started
    assert (caught.value.status_code, caught.value.code) == (504, "upstream_timeout")
    assert len(asked) <= 3
    assert elapsed < 1.5


def test_a_client_for_a_service_takes_its_timeouts_and_credential_lifetime_from_the_settings(
    tmp_path, redis_url
):
    credentials: list[str] = []

    def slow(request: Request) -> Response:
        credentials.append(request.headers[INTERNAL_TOKEN_HEADER])
        time.sleep(1.0)
        return Response('{"id": "1"}', 200)

    with serving(slow) as (url, _):
        settings = make_settings(
            tmp_path,
            "postgresql://unused.invalid/unused",
            redis_url,
            MEDIA_URL=url,
            INTERNAL_READ_TIMEOUT="0.2",
            INTERNAL_TOKEN_TTL_SECONDS="7",
        )
        media = ServiceClient.for_service(settings, caller="fleet", target="media")
        started = time.monotonic()
        with pytest.raises(APIError) as caught:
            media.find("/internal/files/1")
        elapsed = time.monotonic() - started
        media.close()
    assert (caught.value.status_code, caught.value.code) == (504, "upstream_timeout")
    assert elapsed < 0.9
    [credential] = credentials
    claims = jwt.decode(
        credential, settings.internal_secret_key, algorithms=[ALGORITHM], audience="media"
    )
    assert (claims["iss"], claims["exp"] - claims["iat"]) == ("fleet", 7)
