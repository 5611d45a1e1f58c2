"""A webhook receiver for tests: a real HTTP server on a free port that records what arrives.

It answers 204 unless told otherwise: to fail the next requests with a status
(:meth:`Receiver.fail_next`), to hold every request without answering until
released (:meth:`Receiver.hang`), or to answer one byte at a time, forever
(:meth:`Receiver.drip`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# How long a held request waits at most: a test that forgets to release it still ends.
HOLD_AT_MOST_SECONDS = 30.0
DRIP_EVERY_SECONDS = 0.2


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}/hooks"
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._failures: list[int] = []
        self._mode = "answer"
        self._released = threading.Event()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status``."""
        with self._lock:
            self._failures = [status] * count

    def hang(self) -> None:
        """Hold every request without an answer until :meth:`release` (then 204)."""
        self._mode = "hang"

    def drip(self) -> None:
        """Answer every request with a status line, then a header byte at a time, never ending."""
        self._mode = "drip"

    def release(self) -> None:
        self._released.set()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The requests received, once there are ``count`` (AssertionError after ``timeout``)."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            assert arrived, f"{len(self.received)} request(s) arrived, {count} expected"
            return list(self.received)

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self._arrived:
            self.received.append(
                Received(handler.path, dict(handler.headers.items()), body, time.monotonic())
            )
            self._arrived.notify_all()
            status = self._failures.pop(0) if self._failures else 204
        if self._mode == "hang":
            self._released.wait(HOLD_AT_MOST_SECONDS)
        elif self._mode == "drip":
            self._drip(handler)
            return
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _drip(self, handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        deadline = time.monotonic() + HOLD_AT_MOST_SECONDS
        while not self._released.is_set() and time.monotonic() < deadline:
            try:
                handler.wfile.write(b"a")
                handler.wfile.flush()
            except OSError:
                return  # the client broke off: what the test wants to see
            time.sleep(DRIP_EVERY_SECONDS)


class _Handler(BaseHTTPRequestHandler):
    server: _ReceiverServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.server.receiver.respond(self)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 until the block ends."""
    server = _ReceiverServer(("127.0.0.1", 0), _Handler)
    receiver = server.receiver = Receiver(server)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        thread.join()
        server.server_close()
