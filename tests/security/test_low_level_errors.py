"""What gunicorn refuses before Flask sees it is answered with the JSON error body,
by the gateway and by every service, over a raw socket."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.helpers import admin_token
from tests.security.conftest import PARTS
from tests.support.rawhttp import exchange

HOST = b"Host: 127.0.0.1\r\n"

REFUSED = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    "bad http version": (b"GET /health HTTP/9.9\r\n" + HOST + b"\r\n", 400, "bad_request"),
    "lowercase method": (b"get /health HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad_request"),
    "control character in a header": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"X-Thing: a\x01b\r\n\r\n",
        400,
        "bad_request",
    ),
    "url over 4094 bytes": (
        b"GET /api/v1/fleet/vehicles?q=" + b"a" * 5000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        414,
        "uri_too_long",
    ),
    "more than 100 header fields": (
        b"GET /health HTTP/1.1\r\n"
        + HOST
        + b"".join(b"X-Field-%d: x\r\n" % n for n in range(120))
        + b"\r\n",
        431,
        "request_header_fields_too_large",
    ),
    "a header field over 8190 bytes": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n",
        431,
        "request_header_fields_too_large",
    ),
}


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_a_request_gunicorn_refuses_is_answered_with_the_json_error_body(logged_stack, part, case):
    request, status, code = REFUSED[case]

    response = exchange(logged_stack.settings.port_of(part), request)

    assert response.status == status, response.body[:300]
    assert response.headers["content-type"] == "application/json"
    assert b"<html" not in response.body.lower()
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]


def test_a_refused_request_line_is_not_quoted_in_the_logs(logged_stack):
    secret = "refused-line-secret-4f1c9e"
    exchange(logged_stack.settings.gateway_port, f"GET /x?token={secret} HTTP/9.9\r\n\r\n".encode())
    exchange(logged_stack.settings.port_of("auth"), f"BAD {secret}\r\n\r\n".encode())

    assert secret not in logged_stack.log_text()


def test_a_request_the_gateway_takes_but_a_service_refuses_is_still_json(logged_stack):
    # 97 header fields pass the gateway's gunicorn (limit 100); with the headers
    # the gateway adds, the service's gunicorn refuses them.
    with requests.Session() as http:
        token = admin_token(http, logged_stack)
    fields = "".join(f"X-Field-{n}: x\r\n" for n in range(97))
    request = (
        f"GET /api/v1/fleet/vehicles HTTP/1.1\r\nHost: frota.example\r\n"
        f"Authorization: Bearer {token}\r\n{fields}Connection: close\r\n\r\n"
    )

    response = exchange(logged_stack.settings.gateway_port, request.encode())

    assert response.status == 431
    assert response.headers["content-type"] == "application/json"
    assert b"<html" not in response.body.lower()
