"""The proxy: forward one request to a service and stream its answer back.

Request bodies are read whole first (uploads stream, under an idle timeout, and in
bounded number: gateway/bodies.py and gateway/uploads.py say why); answers stream
back in chunks, so the gateway's memory does not grow with their size, and are
relayed as the service gave them but for what gateway/relay.py keeps from clients.
Client-sent identity headers never reach a service; the internal credential minted
for each request (by the service's :class:`shared.http_client.ServiceClient`, over
whose pool the request goes) is the only identity a service believes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import urllib3
from flask import Response, request
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from gateway import metrics
from gateway.bodies import (
    CHUNK_SIZE,
    BufferBudget,
    idle_timeout,
    read_whole_body,
    streamed_body,
)
from gateway.client_auth import ClientIdentity
from gateway.relay import client_headers, internal_netlocs, is_json, replacement_error
from gateway.routing import Route
from gateway.uploads import UploadSlots
from shared.config import Settings
from shared.errors import APIError
from shared.http_client import IDEMPOTENT, ServiceClient, upstream_error
from shared.logs import REQUEST_ID_HEADER

logger = logging.getLogger("frota.gateway.proxy")

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
# Connections kept per service and worker (gevent serves many requests at once).
POOL_SIZE = 64


def hop_by_hop(headers: Any) -> frozenset[str]:
    """Hop-by-hop names: the fixed ones plus any the Connection header lists."""
    named = {h.strip().lower() for h in headers.get("Connection", "").split(",") if h.strip()}
    return HOP_BY_HOP | named


def service_clients(settings: Settings) -> dict[str, ServiceClient]:
    """The gateway's one client (and connection pool) per service, shared by every use.

    No retries of their own: the proxy decides per request what may be sent
    again, and the gateway's own calls have a client waiting or a poll behind.
    Their failures are logged by whoever meets them: the proxy per request, the
    revocation poll once per outage (not four times a second).
    """
    return {
        name: ServiceClient.for_service(
            settings,
            caller="gateway",
            target=name,
            connect_retries=0,
            pool_size=POOL_SIZE,
            log_failures=False,
        )
        for name in settings.service_urls
    }


def upstream_headers(
    *,
    identity: ClientIdentity | None,
    service: ServiceClient,
    request_id: str,
    client_ip: str,
) -> dict[str, str]:
    drop = hop_by_hop(request.headers) | STRIPPED_REQUEST_HEADERS
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in drop and not name.lower().startswith(IDENTITY_HEADER_PREFIXES)
    }
    headers |= service.credential_headers(
        request_id=request_id,
        user_id=identity.user_id if identity else None,
        role=identity.role if identity else None,
        client_ip=client_ip,
        token_jti=identity.jti if identity else None,
        token_exp=identity.expires_at if identity else None,
    )
    headers["X-Forwarded-For"] = client_ip
    headers["X-Forwarded-Proto"] = request.scheme
    return headers


def _chunked_request() -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _has_body() -> bool:
    if request.method in {"GET", "HEAD", "OPTIONS"} and not request.content_length:
        return False
    # RFC 9112 §6.3: with neither Content-Length nor chunked encoding a request
    # has no body. Reading one anyway waits for the client to hang up.
    return request.content_length is not None or _chunked_request()


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

    def __init__(self, settings: Settings, services: Mapping[str, ServiceClient]) -> None:
        self.settings = settings
        self.services = services
        self.internal_netlocs = internal_netlocs(settings.service_urls)
        self.buffer_budget = BufferBudget(settings.body_buffer_mb * 1024 * 1024)
        self.upload_slots = UploadSlots(
            per_service=settings.max_uploads_in_flight,
            per_user=settings.max_uploads_in_flight_per_user,
        )

    def forward(
        self, route: Route, *, identity: ClientIdentity | None, request_id: str, client_ip: str
    ) -> Response:
        length = request.content_length
        if length is not None and length > route.max_body_bytes:
            raise RequestEntityTooLarge()
        headers = upstream_headers(
            identity=identity,
            service=self.services[route.service],
            request_id=request_id,
            client_ip=client_ip,
        )
        if not _has_body():
            return self._send(route, headers, body=None)
        # (After a 400 or 408 about the body, gunicorn drains at most 64 KiB of what is
        # left and then closes the connection: a stalled client is not waited for.)
        return self._forward_with_body(route, headers, identity=identity, length=length)

    def _forward_with_body(
        self,
        route: Route,
        headers: dict[str, str],
        *,
        identity: ClientIdentity | None,
        length: int | None,
    ) -> Response:
        if not route.streams_body:
            # Read whole before the service is asked: its threads never wait on a client.
            with read_whole_body(
                request.environ,
                length=length,
                limit=route.max_body_bytes,
                deadline_seconds=self.settings.body_read_timeout_seconds,
                budget=self.buffer_budget,
            ) as (body, size):
                headers["Content-Length"] = str(size)
                return self._send(route, headers, body=body)
        if length is not None:
            headers["Content-Length"] = str(length)
        user_id = identity.user_id if identity else None
        with (
            self.upload_slots.hold(route.service, user_id),
            idle_timeout(request.environ, self.settings.client_idle_timeout_seconds),
        ):
            stream = streamed_body(request.environ, length=length, limit=route.max_body_bytes)
            return self._send(route, headers, body=stream, chunked=length is None)

    def _send(
        self, route: Route, headers: dict[str, str], *, body: Any, chunked: bool = False
    ) -> Response:
        # Only a refused connection of a bodiless idempotent request is tried again:
        # nothing reached the service. Every answer the service gives is relayed as
        # it is — urllib3 would otherwise retry a 503 carrying Retry-After and, out of
        # retries, turn the service's honest 503 into our 502.
        retries = (
            urllib3.Retry(
                total=1,
                connect=1,
                read=0,
                status=0,
                other=0,
                redirect=0,
                respect_retry_after_header=False,
                raise_on_status=False,
            )
            if request.method in IDEMPOTENT and body is None
            else False
        )
        timeout = urllib3.Timeout(
            connect=self.settings.upstream_connect_timeout, read=route.read_timeout
        )
        try:
            upstream = self.services[route.service].pool.urlopen(
                request.method,
                upstream_target(),
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
        except (APIError, HTTPException):
            raise  # the client's own fault, met while sending its body (408, 400, 413)
        except Exception as exc:
            error = upstream_error(route.service, exc)
            if error is None:
                raise
            metrics.UPSTREAM_ERRORS.labels(route.service, error.kind).inc()
            raise error from exc
        return self._relay(route, upstream)

    def _relay(self, route: Route, upstream: urllib3.BaseHTTPResponse) -> Response:
        """The service's answer, streamed back as it was (gateway/relay.py: but for what)."""
        drop = hop_by_hop(upstream.headers)
        headers = client_headers(
            ((k, v) for k, v in upstream.headers.items() if k.lower() not in drop),
            self.internal_netlocs,
        )
        status = upstream.status
        content_type = upstream.headers.get("Content-Type")
        if status >= 400 and not is_json(content_type):
            _discard(upstream)
            raise replacement_error(route.service, status, upstream.headers)
        if 300 <= status < 400 and status != 304 and not is_json(content_type):
            _discard(upstream)
            kept = [(k, v) for k, v in headers if k.lower() not in BODY_HEADERS]
            redirect = Response(b"", status=status, headers=kept)
            del redirect.headers["Content-Type"]  # no body, so no type (Flask adds text/html)
            return redirect

        body = streamed_answer(upstream, request.environ, self.settings.client_idle_timeout_seconds)
        return Response(body, status=status, headers=headers, direct_passthrough=True)


def streamed_answer(
    upstream: urllib3.BaseHTTPResponse, environ: dict[str, Any], idle_seconds: float
) -> Iterator[bytes]:
    """An upstream's answer as it arrives, each chunk taken by the client within
    ``idle_seconds``.

    While this streams, an upstream thread is writing it: a client that stops reading
    must not hold that thread, so a chunk not taken in time makes the write fail and
    this end.
    """
    complete = False
    try:
        with idle_timeout(environ, idle_seconds):
            yield from upstream.stream(CHUNK_SIZE, decode_content=False)
        complete = True
    except (ProtocolError, ReadTimeoutError) as exc:
        # Headers are gone already; all we can do is cut the response short.
        logger.warning("upstream response broke off: %s", exc)
    finally:
        if not complete:
            # Unread bytes in it: close it, so the upstream's write fails now and its
            # thread is free, rather than pooling a connection that cannot be reused.
            upstream.close()
        upstream.release_conn()


BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


def _discard(upstream: urllib3.BaseHTTPResponse) -> None:
    """Drop an answer whose body we will not relay, with its connection (never reused
    with unread bytes in it)."""
    upstream.close()
    upstream.release_conn()
