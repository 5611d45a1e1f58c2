"""What a client receives for a service's answer: the service's own status and body,
whatever it is (a 503 with Retry-After stays a 503) — but never a service's HTML page,
and never a header or redirect naming a service's internal host and port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from flask import Flask, jsonify

from shared.errors import CODES
from tests.gateway.conftest import access_token, assert_json_error, bearer
from tests.support.servers import serving

VEHICLES = "/api/v1/fleet/vehicles"


class ScriptedService(ThreadingHTTPServer):
    """A service whose answer to each path the test sets: (status, headers, body)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.answers: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
        self.asked: list[str] = []

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def answer(self, path: str, status: int, body: bytes = b"", **headers: str) -> None:
        pairs = [(name.replace("_", "-"), value) for name, value in headers.items()]
        self.answers[path] = (status, pairs, body)


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedService

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.asked.append(f"{self.command} {self.path}")
        status, headers, body = self.server.answers[self.path]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


@pytest.fixture
def service() -> Iterator[ScriptedService]:
    server = ScriptedService()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def app(make_gateway, service) -> Flask:
    return make_gateway(FLEET_URL=service.url)


def everything_sent(response) -> str:
    """Headers and body as one text, to look for what must not be in any of them."""
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return headers + "\n" + response.get_data(as_text=True)


# --- the service's answer is the client's answer ---------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("status", [503, 429, 413])
def test_a_service_answer_with_retry_after_comes_back_as_it_was(app, service, method, status):
    """urllib3 retried these statuses when they carried Retry-After, and out of retries
    the gateway answered 502: a database outage looked like a dead service."""
    body = json.dumps(
        {
            "error": {
                "code": "database_unavailable",
                "message": "The database is unavailable; retry shortly",
                "details": {},
                "request_id": "r-12345678",
            }
        }
    ).encode()
    service.answer(VEHICLES, status, body, Content_Type="application/json", Retry_After="5")
    response = app.test_client().open(
        VEHICLES,
        method=method,
        json={} if method == "POST" else None,
        headers=bearer(access_token(app)),
    )
    assert response.status_code == status
    assert response.headers["Retry-After"] == "5"
    assert response.get_data() == body
    assert service.asked == [f"{method} {VEHICLES}"]  # asked once, answered once


# --- never a service's HTML ------------------------------------------------------------------

HTML_PAGE = b"<!doctype html><title>%d</title><p>Traceback at http://fleet-internal:8002/</p>"


@pytest.mark.parametrize(
    ("status", "content_type", "expected_status", "code"),
    [
        (400, "text/html", 400, "bad_request"),
        (404, "text/html; charset=utf-8", 404, "not_found"),
        (405, "text/html", 405, "method_not_allowed"),
        (413, "text/plain", 413, "payload_too_large"),
        (431, "text/html", 431, CODES.get(431, "error")),
        (500, "text/html", 502, "upstream_error"),
        (501, "text/plain", 502, "upstream_error"),
        (502, "text/html", 502, "upstream_error"),
        (503, "text/html", 503, "service_unavailable"),
        (504, "text/html", 504, "upstream_timeout"),
        (500, "", 502, "upstream_error"),
    ],
)
def test_a_service_error_page_that_is_not_json_becomes_the_json_error(
    app, service, status, content_type, expected_status, code
):
    headers = {"Content_Type": content_type} if content_type else {}
    service.answer(VEHICLES, status, HTML_PAGE % status, Allow="GET, POST", **headers)
    response = app.test_client().get(VEHICLES, headers=bearer(access_token(app)))
    error = assert_json_error(response, expected_status, code)
    assert "fleet" in error["message"]
    assert "<" not in response.get_data(as_text=True)
    assert "fleet-internal" not in everything_sent(response)
    if expected_status == 405:
        assert response.headers["Allow"] == "GET, POST"
    if expected_status == 503:
        assert response.headers["Retry-After"].isdigit()


def test_a_json_error_and_a_non_json_success_pass_through_untouched(app, service):
    service.answer(
        VEHICLES, 409, b'{"error": {"code": "plate_taken"}}', Content_Type="application/json"
    )
    service.answer(VEHICLES + "/export", 200, b"plate,km\nABC1D23,10\n", Content_Type="text/csv")
    headers = bearer(access_token(app))
    conflict = app.test_client().get(VEHICLES, headers=headers)
    assert (conflict.status_code, conflict.get_data()) == (
        409,
        b'{"error": {"code": "plate_taken"}}',
    )
    export = app.test_client().get(VEHICLES + "/export", headers=headers)
    assert (export.status_code, export.mimetype) == (200, "text/csv")
    assert export.get_data() == b"plate,km\nABC1D23,10\n"


# --- never an internal address -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "relayed"),
    [
        ("http://{netloc}/api/v1/fleet/vehicles/", "/api/v1/fleet/vehicles/"),
        ("http://{netloc}/api/v1/fleet/vehicles?cursor=abc", "/api/v1/fleet/vehicles?cursor=abc"),
        ("https://fleet:8002/api/v1/fleet/x", "/api/v1/fleet/x"),
        ("//{netloc}/api/v1/fleet/x", "/api/v1/fleet/x"),
        ("http://{netloc}//evil.example/x", "/evil.example/x"),
        ("/\\evil.example/x", "/evil.example/x"),
        ("/api/v1/fleet/vehicles/1", "/api/v1/fleet/vehicles/1"),
    ],
)
def test_a_location_never_names_a_host(app, service, location, relayed):
    service.answer(
        VEHICLES,
        201,
        b"{}",
        Content_Type="application/json",
        Location=location.format(netloc=service.netloc),
        Content_Location=location.format(netloc=service.netloc),
    )
    response = app.test_client().post(VEHICLES, json={}, headers=bearer(access_token(app)))
    assert response.status_code == 201
    assert response.headers["Location"] == relayed
    assert response.headers["Content-Location"] == relayed


def test_no_other_header_names_a_service_host_or_port(app, service):
    service.answer(
        VEHICLES,
        200,
        b"{}",
        Content_Type="application/json",
        Link=f'<http://{service.netloc}/api/v1/fleet/vehicles?cursor=x>; rel="next"',
        Refresh=f"0; url=http://{service.netloc}/",
        X_Served_By=f"fleet@{service.netloc}",
        X_Kept="kept",
    )
    response = app.test_client().get(VEHICLES, headers=bearer(access_token(app)))
    assert response.status_code == 200
    assert response.headers["Link"] == '</api/v1/fleet/vehicles?cursor=x>; rel="next"'
    assert "Refresh" not in response.headers
    assert "X-Served-By" not in response.headers
    assert response.headers["X-Kept"] == "kept"
    assert service.netloc not in everything_sent(response)


def test_a_redirect_page_from_a_service_is_not_relayed(app, service):
    page = f'<a href="http://{service.netloc}/api/v1/fleet/vehicles">Redirecting</a>'.encode()
    service.answer(
        VEHICLES,
        308,
        page,
        Content_Type="text/html; charset=utf-8",
        Location=f"http://{service.netloc}/api/v1/fleet/vehicles/",
    )
    response = app.test_client().get(VEHICLES, headers=bearer(access_token(app)))
    assert response.status_code == 308
    assert response.headers["Location"] == "/api/v1/fleet/vehicles/"
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert service.netloc not in everything_sent(response)


@pytest.fixture
def flask_service() -> Iterator[str]:
    """A real Flask app as the service, with werkzeug's own redirects (``//`` merged,
    trailing slashes added) — what a service does unless told otherwise."""
    service = Flask("redirecting-service")

    @service.get("/api/v1/fleet/vehicles/")
    def vehicles() -> Any:
        return jsonify(items=[])

    with serving(service) as url:
        yield url.removeprefix("http://")


@pytest.mark.parametrize(
    "path", ["/api/v1/fleet//vehicles/", "/api/v1/fleet/vehicles", "/api//v1/fleet/vehicles/"]
)
def test_a_path_a_service_would_redirect_never_answers_an_internal_address(
    make_gateway, flask_service, path
):
    app = make_gateway(FLEET_URL=f"http://{flask_service}")
    with serving(app) as url:
        response = requests.get(
            url + path,
            headers={**bearer(access_token(app)), "Host": "evil.example"},
            allow_redirects=False,
            timeout=10,
        )
    sent = "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + response.text
    assert flask_service not in sent
    assert "evil.example" not in sent  # nor a host the client made up
    if response.is_redirect:
        assert response.headers["Location"].startswith("/api/v1/fleet/")
        assert response.content == b""
