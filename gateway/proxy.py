"""The streaming proxy: forward one request to a service and stream its answer back.

Bodies go through in chunks both ways, so the gateway's memory does not grow
with their size. Client-sent identity headers never reach a service; the
internal credential minted here is the only identity a service believes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import urllib3
from flask import Response, request
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from gateway import metrics
from gateway.client_auth import ClientIdentity
from gateway.routing import Route
from shared.config import Settings
from shared.errors import APIError
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from shared.logs import REQUEST_ID_HEADER

logger = logging.getLogger("frota.gateway.proxy")

CHUNK_SIZE = 256 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Never passed on from the client: identity is the internal credential's alone.
STRIPPED_REQUEST_HEADERS = frozenset(
    {
        "host",
        "authorization",
        "cookie",
        "content-length",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
        "forwarded",
        "remote-user",
        REQUEST_ID_HEADER.lower(),
        # The client's address reaches services in the internal credential only.
        "cf-connecting-ip",
        "true-client-ip",
        "x-client-ip",
        "cf-visitor",
    }
)
IDENTITY_HEADER_PREFIXES = (
    "x-user",
    "x-frota",
    "x-auth",
    "x-role",
    "x-internal",
    "x-remote",
    "x-forwarded-user",
)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def _hop_by_hop(headers: Any) -> set[str]:
    """Hop-by-hop names: the fixed ones plus any the Connection header lists."""
    named = {h.strip().lower() for h in headers.get("Connection", "").split(",") if h.strip()}
    return HOP_BY_HOP | named


def upstream_headers(
    *,
    identity: ClientIdentity | None,
    service: str,
    request_id: str,
    client_ip: str,
    settings: Settings,
) -> dict[str, str]:
    drop = _hop_by_hop(request.headers) | STRIPPED_REQUEST_HEADERS
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in drop and not name.lower().startswith(IDENTITY_HEADER_PREFIXES)
    }
    headers[INTERNAL_TOKEN_HEADER] = mint_internal_token(
        settings.internal_secret_key,
        issuer="gateway",
        audience=service,
        request_id=request_id,
        user_id=identity.user_id if identity else None,
        role=identity.role if identity else None,
        ttl_seconds=settings.internal_token_ttl_seconds,
        client_ip=client_ip,
        token_jti=identity.jti if identity else None,
        token_exp=identity.expires_at if identity else None,
    )
    headers[REQUEST_ID_HEADER] = request_id
    headers["X-Forwarded-For"] = client_ip
    headers["X-Forwarded-Proto"] = request.scheme
    return headers


def _chunked_request() -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _request_body(route: Route) -> tuple[Any, bool]:
    """The client's body as a stream capped at the route's limit, and whether it is chunked.

    werkzeug raises 413 before reading when Content-Length is over the limit,
    and while reading when a chunked or lying body goes past it.
    """
    if request.method in {"GET", "HEAD", "OPTIONS"} and not request.content_length:
        return None, False
    if request.content_length is None and not _chunked_request():
        # RFC 9112 §6.3: with neither Content-Length nor chunked encoding a request
        # has no body. Reading one anyway waits for the client to hang up.
        return None, False
    if request.content_length is not None:
        stream = get_input_stream(
            request.environ, safe_fallback=False, max_content_length=route.max_body_bytes
        )
        return ExactBody(stream, request.content_length), False
    stream = get_input_stream(request.environ, safe_fallback=False)

    def chunks() -> Iterator[bytes]:
        # Counted here rather than by werkzeug, whose limit also trips on a
        # body of exactly the limit; the same size passes with Content-Length.
        total = 0
        while data := stream.read(CHUNK_SIZE):
            total += len(data)
            if total > route.max_body_bytes:
                raise RequestEntityTooLarge()
            yield data

    return chunks(), True


class ExactBody:
    """The client's body, which must be exactly as long as its Content-Length said.

    gunicorn marks its input as terminated, so werkzeug reports a client that
    hung up half-way as a plain end of stream. Passed on like that, the service
    would be left waiting for the rest; raising instead makes urllib3 close the
    upstream connection, and the service sees the upload broken off.
    """

    def __init__(self, stream: Any, length: int) -> None:
        self.stream = stream
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        wanted = self.remaining if size < 0 else min(size, self.remaining)
        data = self.stream.read(wanted)
        if not data:
            raise ClientDisconnected()
        self.remaining -= len(data)
        return data


def upstream_target() -> str:
    """The path and query as the client sent them, still percent-encoded.

    Forwarding the decoded path would turn ``%2F`` into a separator and
    ``%2541`` into ``A`` on the way to the service.
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    if raw.startswith("/"):
        return raw
    path = quote(request.path)
    query = request.query_string.decode("latin-1")
    return f"{path}?{query}" if query else path


class Proxy:
    """Forwards requests to services over pooled keep-alive connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pools = {
            name: urllib3.connection_from_url(url, maxsize=64, block=False, retries=False)
            for name, url in settings.service_urls.items()
        }

    def forward(
        self, route: Route, *, identity: ClientIdentity | None, request_id: str, client_ip: str
    ) -> Response:
        body, chunked = _request_body(route)
        headers = upstream_headers(
            identity=identity,
            service=route.service,
            request_id=request_id,
            client_ip=client_ip,
            settings=self.settings,
        )
        if request.content_length is not None and body is not None:
            headers["Content-Length"] = str(request.content_length)
        path = upstream_target()
        retries = (
            urllib3.Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0)
            if request.method in IDEMPOTENT and body is None
            else False
        )
        timeout = urllib3.Timeout(
            connect=self.settings.upstream_connect_timeout, read=route.read_timeout
        )
        try:
            upstream = self.pools[route.service].urlopen(
                request.method,
                path,
                body=body,
                headers=headers,
                retries=retries,
                redirect=False,
                timeout=timeout,
                preload_content=False,
                decode_content=False,
                chunked=chunked,
                assert_same_host=False,
            )
        except RequestEntityTooLarge:
            raise
        except Exception as exc:
            raise self._upstream_error(route, exc) from exc
        return self._stream_back(upstream)

    @staticmethod
    def _upstream_error(route: Route, exc: Exception) -> Exception:
        """Map a failed upstream call to 502 (unreachable) or 504 (too slow)."""
        cause = exc.reason if isinstance(exc, MaxRetryError) else exc
        # NewConnectionError subclasses ConnectTimeoutError: test it first.
        if isinstance(cause, NewConnectionError):
            metrics.UPSTREAM_ERRORS.labels(route.service, "refused").inc()
            logger.warning("upstream %s refused the connection: %s", route.service, cause)
            return APIError(
                502, "upstream_unavailable", f"The {route.service} service is unavailable"
            )
        if isinstance(cause, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
            metrics.UPSTREAM_ERRORS.labels(route.service, "timeout").inc()
            logger.warning("upstream %s timed out: %s", route.service, cause)
            return APIError(504, "upstream_timeout", f"The {route.service} service timed out")
        if isinstance(cause, ProtocolError | HTTPError | OSError):
            metrics.UPSTREAM_ERRORS.labels(route.service, "broken").inc()
            logger.warning("upstream %s unavailable: %s", route.service, cause)
            return APIError(
                502, "upstream_unavailable", f"The {route.service} service is unavailable"
            )
        return exc

    @staticmethod
    def _stream_back(upstream: urllib3.BaseHTTPResponse) -> Response:
        drop = _hop_by_hop(upstream.headers)
        headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in drop]

        def body() -> Iterator[bytes]:
            try:
                yield from upstream.stream(CHUNK_SIZE, decode_content=False)
            except (ProtocolError, ReadTimeoutError) as exc:
                # Headers are gone already; all we can do is cut the response short.
                logger.warning("upstream response broke off: %s", exc)
            finally:
                upstream.release_conn()

        response = Response(
            body(), status=upstream.status, headers=headers, direct_passthrough=True
        )
        return response
