"""HTTP over a bare socket: requests no client library would send, and answers read off
the wire as they come (to the point where a server stalls, cuts off or closes)."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the headers (names in lower case) of a response's head."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def read_response(sock: socket.socket) -> RawResponse:
    """One HTTP/1.1 response off ``sock`` (Content-Length bodies, as the gateway sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return RawResponse(status, headers, body)


def read_until_closed(sock: socket.socket, *, ends: tuple[type[OSError], ...] = ()) -> bytes:
    """All ``sock`` receives until the peer closes it, or until one of ``ends`` is raised."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ends:
        pass
    return data


def exchange(port: int, request: bytes, *, timeout: float = 10.0) -> RawResponse:
    """Send ``request`` as it is and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        # The server may answer before reading all we sent (a refused request line) and
        # close: what it wrote before the reset is the answer.
        data = read_until_closed(sock, ends=(ConnectionResetError,))
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    length = headers.get("content-length")
    if length is not None:
        body = body[: int(length)]
    return RawResponse(status, headers, body)
