"""The real gateway (gunicorn, gevent) in front of the real services: a malformed
chunked body is the client's 400, and no path a service would redirect makes anything
the client receives name an internal host or port."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.helpers import db_user_id, token_for


def send_raw(stack: RunningStack, request: bytes, *, quiet_for: float = 1.5) -> bytes:
    """Send ``request`` as it is and stop sending; everything the gateway writes back
    until it closes or has been quiet for ``quiet_for`` seconds."""
    with socket.create_connection(("127.0.0.1", stack.settings.gateway_port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # a body that is cut short stays cut short
        sock.settimeout(quiet_for)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return data


def chunked_post(path: str, token: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: frota.test\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode() + body


MALFORMED = {
    "bad chunk size": b"zz\r\n{}\r\n0\r\n\r\n",
    "chunk size with junk": b"2 junk\r\n{}\r\n0\r\n\r\n",
    "no CRLF after a chunk": b"2\r\n{}XX0\r\n\r\n",
    "truncated": b"10\r\n{}",
    "no last chunk": b"2\r\n{}\r\n",
}


@pytest.mark.parametrize("path", ["/api/v1/fleet/vehicles", "/api/v1/media/files"])
@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_chunked_body_is_one_400_json_answer(e2e_stack, path, case):
    token = token_for(e2e_stack, db_user_id(e2e_stack))
    data = send_raw(e2e_stack, chunked_post(path, token, MALFORMED[case]))
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 400"), data[:300]
    assert b"application/json" in data.split(b"\r\n\r\n", 1)[0].lower()
    assert b'"malformed_body"' in data
    assert b"<html" not in data.lower()
    assert data.count(b"HTTP/1.1 ") <= 1, data  # no second answer of gunicorn's own


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/fleet//vehicles", 404),
        # The one trailing slash the service's route accepts: answered, not redirected.
        ("/api/v1/fleet/vehicles/", 200),
        ("/api//v1/fleet/vehicles", 404),
        ("/api/v1/auth//me", 404),
        ("/api/v1/media//usage", 404),
        ("/api/v1/fleet/vehicles//", 404),
    ],
)
def test_no_answer_names_an_internal_host_or_port(e2e_stack, path, status):
    token = token_for(e2e_stack, db_user_id(e2e_stack))
    response = requests.get(
        e2e_stack.url + path,
        headers={"Authorization": f"Bearer {token}", "Host": "evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    sent = "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + "\n" + response.text
    for part in ("auth", "fleet", "media"):
        assert f":{e2e_stack.settings.port_of(part)}" not in sent, (part, sent)
    assert "evil.example" not in sent
    # No redirect (its Location would name a host) and no 5xx: the answer the path deserves.
    assert response.status_code == status, response.text[:200]
    assert response.headers["Content-Type"].startswith("application/json")
