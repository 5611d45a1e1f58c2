"""Reading the client's request body, so that a slow or stalled client costs the gateway a
little and never costs a service a thread.

A service has few threads (gunicorn gthread, 4 per worker); the gateway has a thousand
cheap greenlets per worker. So every body but an upload is read whole here, under one
deadline, before any upstream connection is opened: a client trickling its body holds a
greenlet at the gateway for at most ``BODY_READ_TIMEOUT_SECONDS``, and the service
never sees it. Uploads are too large to buffer and still stream, but each read from the
client may wait at most ``CLIENT_IDLE_TIMEOUT_SECONDS``; a stalled upload is broken off
(the media service sees the upload cut short and cleans up). The same timeout bounds
each write of a download to a client that stopped reading (gateway/proxy.py).

Errors while reading are the client's: a deadline missed or an upload stalled is 408
``request_timeout``; a malformed or truncated chunked body is 400 ``malformed_body``. They
are raised as :class:`APIError`, which urllib3 does not catch while it sends a body, so
an upload broken off here closes the upstream connection instead of looking like a
failed service (502).
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

from gunicorn.http.errors import ParseException
from werkzeug.exceptions import RequestEntityTooLarge

from shared.errors import APIError

CHUNK_SIZE = 256 * 1024
# Buffered bodies are read in small pieces: a piece the server is still filling is not
# yet counted against the buffer budget, so it bounds what is uncounted per connection
# (1000 connections x 16 KiB = 16 MiB per worker at most).
BUFFERED_READ_SIZE = 16 * 1024


class BufferBudget:
    """The bytes of request bodies one gateway worker holds at once, bounded.

    Buffering moves a slow client's wait from a service thread to a cheap greenlet, but
    the bytes it has sent are held until the body is complete or its deadline passes:
    without a bound, clients sending a megabyte each and stalling would grow the worker
    by a megabyte per connection (a temporary file is no way out: the container's /tmp
    is a tmpfs, charged to its memory). Only bytes that arrived are counted — a
    client that promises a large Content-Length and sends nothing reserves nothing — so
    filling the budget takes real bandwidth, renewed every deadline. A body that would
    go over it is refused, 503 ``gateway_busy``, at once.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.lock = threading.Lock()

    def take(self, size: int) -> None:
        with self.lock:
            if self.held + size > self.max_bytes:
                raise APIError(
                    503,
                    "gateway_busy",
                    "The gateway is holding too many request bodies; retry shortly",
                    headers={"Retry-After": "5"},
                )
            self.held += size

    def give_back(self, size: int) -> None:
        with self.lock:
            self.held -= size


def request_timeout(message: str) -> APIError:
    return APIError(408, "request_timeout", message)


def malformed_body() -> APIError:
    return APIError(
        400, "malformed_body", "The request body is malformed or ended before it was complete"
    )


def client_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The client's connection, as gunicorn and werkzeug's server expose it (None in tests
    that call the app directly, whose bodies are in memory and cannot stall)."""
    return environ.get("gunicorn.socket") or environ.get("werkzeug.socket")


class Deadline:
    """At ``seconds`` from now, shut the client's socket for reading.

    Whatever the server is blocked in (gunicorn's chunk parser, a Content-Length read
    that a trickling client keeps alive one byte at a time) then sees the end of the
    stream at once, in any worker class: gevent greenlets and real threads alike. The
    write side stays open for the 408, and the server then finds the connection at its
    end and closes it.
    """

    def __init__(self, sock: socket.socket | None, seconds: float) -> None:
        self.sock = sock
        self.expired = False
        self.timer: threading.Timer | None = None
        if sock is not None:
            self.timer = threading.Timer(seconds, self._expire)
            self.timer.daemon = True
            self.timer.start()

    def _expire(self) -> None:
        self.expired = True
        with suppress(OSError):  # the client is gone already
            self.sock.shutdown(socket.SHUT_RD)  # type: ignore[union-attr]

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


def _read(stream: Any, size: int, timed_out: Callable[[], bool], timeout_message: str) -> bytes:
    """One read from the client, with the server's errors turned into the client's."""
    try:
        data: bytes = stream.read(size)
    except TimeoutError:
        raise request_timeout(timeout_message) from None
    except (OSError, ParseException):
        # gunicorn: InvalidChunkSize, ChunkMissingTerminator, NoMoreData (an OSError);
        # werkzeug's server: OSError("Invalid chunk header").
        if timed_out():
            raise request_timeout(timeout_message) from None
        raise malformed_body() from None
    return data


def _client_chunks(
    environ: dict[str, Any],
    *,
    length: int | None,
    limit: int,
    timed_out: Callable[[], bool],
    timeout_message: str,
    read_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """The body in pieces: exactly ``length`` bytes, or a chunked body up to ``limit``.

    A Content-Length body that ends early is an error, not an end: passed on short,
    the service would be left waiting for the rest.
    """
    stream = environ["wsgi.input"]
    if length is not None:
        remaining = length
        while remaining > 0:
            data = _read(stream, min(read_size, remaining), timed_out, timeout_message)
            if not data:
                if timed_out():
                    raise request_timeout(timeout_message)
                raise malformed_body()
            remaining -= len(data)
            yield data
        return
    total = 0
    while data := _read(stream, read_size, timed_out, timeout_message):
        total += len(data)
        if total > limit:
            raise RequestEntityTooLarge()
        yield data
    if timed_out():
        raise request_timeout(timeout_message)


@contextmanager
def read_whole_body(
    environ: dict[str, Any],
    *,
    length: int | None,
    limit: int,
    deadline_seconds: float,
    budget: BufferBudget,
) -> Iterator[tuple[IO[bytes], int]]:
    """The whole body (Content-Length ``length``, or chunked when None) and its size.

    Read under one deadline for the whole body and within ``budget``, which has it
    back when the ``with`` block ends; the buffer is positioned at its start.
    """
    deadline = Deadline(client_socket(environ), deadline_seconds)
    message = f"The request body did not arrive within {deadline_seconds:g} s"
    body = io.BytesIO()
    size = 0
    try:
        for data in _client_chunks(
            environ,
            length=length,
            limit=limit,
            timed_out=lambda: deadline.expired,
            timeout_message=message,
            read_size=BUFFERED_READ_SIZE,
        ):
            budget.take(len(data))
            size += len(data)
            body.write(data)
        deadline.cancel()
        body.seek(0)
        yield body, size
    finally:
        deadline.cancel()
        body.close()
        budget.give_back(size)


def streamed_body(environ: dict[str, Any], *, length: int | None, limit: int) -> Iterator[bytes]:
    """The body as it arrives, for :func:`idle_timeout` to bound each wait."""
    return _client_chunks(
        environ,
        length=length,
        limit=limit,
        timed_out=lambda: False,
        timeout_message="The upload stalled: no data arrived for too long",
    )


@contextmanager
def idle_timeout(environ: dict[str, Any], seconds: float) -> Iterator[None]:
    """While inside, each read from the client waits at most ``seconds`` for a byte.

    A socket timeout is exactly "no byte for that long", in every worker class; the
    previous timeout is restored before the response is written.
    """
    sock = client_socket(environ)
    if sock is None:
        yield
        return
    previous = sock.gettimeout()
    sock.settimeout(seconds)
    try:
        yield
    finally:
        with suppress(OSError):
            sock.settimeout(previous)
