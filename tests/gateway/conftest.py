"""The gateway in front of real upstream HTTP servers.

``upstream`` is a small threaded HTTP server on a free port that records every
request it receives completely (method, request target, headers, body) and
answers according to the path:

- ``/ready``                200 ``{"status": "ok"}`` (the health probe);
- ``/internal/revocations``, ``/internal/revocation-version`` and
  ``/internal/token-status``: the auth service's answers about revoked tokens
  (none revoked unless a test says so; the version counts the revocations);
- ``.../sleep``            waits (until the test ends) before answering;
- ``.../hang-up``          closes the connection without answering;
- ``.../status/<code>``    answers ``<code>`` with a JSON body and a ``Location``;
- ``.../hop-by-hop``       answers chunked, with hop-by-hop headers among end-to-end ones;
- anything else            200 with the request echoed back as JSON.

Requests to ``/ready`` and ``/internal/...`` are the gateway's own housekeeping
(health probes, revocation state) and are kept apart from the forwarded ones in
``received``.

``gateway_app`` is ``gateway.create_app`` with every service pointed at it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token, create_refresh_token
from werkzeug.test import TestResponse

import gateway
from shared.config import SERVICES, Settings
from tests.conftest import make_settings
from tests.support.errors import error_of

ISSUER = "frota-auth"
AUDIENCE = "frota-api"
SLEEP_CEILING_SECONDS = 10.0


@dataclass(frozen=True)
class Received:
    """One request as the upstream read it off the wire."""

    method: str
    target: str
    header_pairs: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        return [value for key, value in self.header_pairs if key.lower() == name.lower()]

    @property
    def header_names(self) -> set[str]:
        return {key.lower() for key, _ in self.header_pairs}


class UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.received: list[Received] = []
        self.housekeeping: list[Received] = []
        self.revoked_jtis: set[str] = set()
        self.release = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that gave up (timeouts, 413s) are expected here; stay quiet."""


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: UpstreamServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes | None:
        """The whole body, or None when the client did not send all of it."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                if not size_line.endswith(b"\n"):
                    return None
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                part = self.rfile.read(size)
                if len(part) != size or self.rfile.readline() != b"\r\n":
                    return None
                parts.append(part)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        return body if len(body) == length else None

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (OSError, ValueError):
            body = None
        if body is None:
            self.close_connection = True
            return
        received = Received(self.command, self.path, tuple(self.headers.items()), body)
        if received.path == "/ready" or received.path.startswith("/internal/"):
            self.server.housekeeping.append(received)
            self._answer_housekeeping(received)
            return
        self.server.received.append(received)
        segments = received.path.rstrip("/").split("/")
        if segments[-1] == "hang-up":
            self.close_connection = True
            return
        if segments[-1] == "sleep":
            self.server.release.wait(SLEEP_CEILING_SECONDS)
        if segments[-1] == "hop-by-hop":
            self._answer_chunked_with_hop_by_hop_headers()
            return
        if len(segments) >= 2 and segments[-2] == "status":
            code = int(segments[-1])
            self._answer(code, {"upstream_status": code}, [("Location", "/somewhere/else")])
            return
        self._answer(200, echo_of(received))

    def _answer_housekeeping(self, received: Received) -> None:
        revoked = self.server.revoked_jtis
        if received.path == "/ready":
            self._answer(200, {"status": "ok"})
        elif received.path == "/internal/revocations":
            tokens = [{"jti": jti, "exp": int(time.time()) + 3600} for jti in revoked]
            self._answer(200, {"tokens": tokens, "generations": {}, "version": len(revoked)})
        elif received.path == "/internal/revocation-version":
            self._answer(200, {"version": len(revoked)})
        elif received.path == "/internal/token-status":
            jti = parse_qs(urlsplit(received.target).query).get("jti", [""])[0]
            self._answer(200, {"revoked": jti in revoked, "version": len(revoked)})
        else:
            self._answer(404, {"error": {"code": "not_found"}})

    def _answer(
        self, status: int, payload: Any, extra_headers: list[tuple[str, str]] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "echo")
        for name, value in extra_headers or []:
            self.send_header(name, value)
        if status not in (204, 304) and self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.end_headers()

    def _answer_chunked_with_hop_by_hop_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-End-To-End", "kept")
        self.send_header("Connection", "keep-alive, X-Hop-Secret")
        self.send_header("X-Hop-Secret", "for-the-next-hop-only")
        self.send_header("Keep-Alive", "timeout=5")
        self.send_header("Proxy-Authenticate", 'Basic realm="upstream"')
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b"first part, ", b"second part, ", b"last part"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle


def echo_of(received: Received) -> dict[str, Any]:
    return {
        "method": received.method,
        "target": received.target,
        "headers": {key.lower(): value for key, value in received.header_pairs},
        "body_b64": base64.b64encode(received.body).decode(),
    }


class Upstream:
    """Handle on a running :class:`UpstreamServer`."""

    def __init__(self, server: UpstreamServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def received(self) -> list[Received]:
        """The requests forwarded to the service, in order."""
        return self.server.received

    @property
    def housekeeping(self) -> list[Received]:
        """The gateway's own calls: health probes and revocation look-ups."""
        return self.server.housekeeping

    def revoke(self, jti: str) -> None:
        """From now on the auth service reports the token ``jti`` as revoked."""
        self.server.revoked_jtis.add(jti)

    def only(self) -> Received:
        """The one request received so far (fails when there were none or several)."""
        assert len(self.received) == 1, self.received
        return self.received[0]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = UpstreamServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Upstream(server)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


GatewayFactory = Callable[..., Flask]


class BufferedClient(FlaskClient):
    """A test client that reads each streamed response to its end (and so closes it)."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


# The gateway has no database and never connects to one; its tests do not start PostgreSQL.
NO_DATABASE = "postgresql://gateway-has-no-database.invalid/unused"


@pytest.fixture
def make_gateway(tmp_path: Path, redis_url: str, upstream: Upstream) -> GatewayFactory:
    """``make_gateway(**env)``: a gateway app; every service at ``upstream`` unless overridden."""

    def make(**env: str) -> Flask:
        urls = {f"{service.upper()}_URL": upstream.url for service in SERVICES}
        settings = make_settings(tmp_path, NO_DATABASE, redis_url, **{**urls, **env})
        app = gateway.create_app(settings)
        app.test_client_class = BufferedClient
        return app

    return make


@pytest.fixture
def gateway_app(make_gateway: GatewayFactory) -> Flask:
    return make_gateway()


@pytest.fixture
def client(gateway_app: Flask) -> Any:
    return gateway_app.test_client()


def settings_of(app: Flask) -> Settings:
    return app.config["FROTA_SETTINGS"]


# --- client tokens -------------------------------------------------------------------------


def access_token(
    app: Flask, *, user_id: str | None = None, role: str = "manager", mcp: bool = False
) -> str:
    """An access token as the auth service issues it (flask-jwt-extended, same settings)."""
    return issued(create_access_token, app, user_id=user_id, role=role, mcp=mcp)


def refresh_token(
    app: Flask, *, user_id: str | None = None, role: str = "manager", mcp: bool = False
) -> str:
    return issued(create_refresh_token, app, user_id=user_id, role=role, mcp=mcp)


def issued(
    create: Callable[..., str], app: Flask, *, user_id: str | None, role: str, mcp: bool
) -> str:
    """A token from ``create`` with the app's JWT settings, for ``user_id`` (a fresh one
    when None)."""
    with app.app_context():
        return create(
            identity=user_id or str(uuid.uuid4()), additional_claims={"role": role, "mcp": mcp}
        )


def token_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a valid access token; an override of ``None`` removes the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "type": "access",
        "fresh": False,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "role": "manager",
        "mcp": False,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def forge_token(secret: str, algorithm: str = "HS256", **overrides: Any) -> str:
    """A token made with PyJWT directly, as anyone holding ``secret`` could make it."""
    return jwt.encode(token_claims(**overrides), secret, algorithm=algorithm)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(claims: dict[str, Any], *, secret: str = "", alg: str = "HS256") -> str:
    """A token built byte by byte, without any library's encode-time checks.

    ``alg="none"`` gives an unsigned token (empty signature).
    """
    header = _b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    if alg == "none":
        return f"{header}.{payload}."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signature = hmac.new(secret.encode(), signing_input, digest).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- assertions ----------------------------------------------------------------------------

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def assert_json_error(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error shape with ``status`` and ``code``, and its request id
    is the one in X-Request-ID; returns the error."""
    error = error_of(response, status, code)
    assert REQUEST_ID_RE.fullmatch(error["request_id"])
    assert response.headers["X-Request-ID"] == error["request_id"]
    return error
