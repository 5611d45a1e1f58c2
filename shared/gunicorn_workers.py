"""gunicorn workers whose own error answers are the JSON error body, not an HTML page.

Some requests never reach Flask: gunicorn's parser refuses them (a bad request
line, a URL over ``limit_request_line``, too many or too large header fields)
and ``Worker.handle_error`` writes a small HTML page. These workers answer the
same statuses with ``{"error": {"code", "message", "details", "request_id"}}``,
so that a client (and the gateway, relaying a service) only ever sees JSON.
They also log what was refused without quoting it: a refused request line or
header may hold a token.

``--worker-class shared.gunicorn_workers.ThreadWorker`` (services) and
``shared.gunicorn_workers.GeventWorker`` (gateway), as ``frota.stack`` runs them;
``--logger-class`` ``JSONLogger`` or ``ConsoleLogger`` (LOG_FORMAT), so that gunicorn's own lines
(boot, workers, refusals) come in the format of the application's.
"""

from __future__ import annotations

import json
import socket
import ssl
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker as _GeventWorker
from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker

from shared.errors import CODES, error_document
from shared.logs import (
    FORMATTERS,
    REQUEST_ID_HEADER,
    RequestIdFilter,
    is_valid_request_id,
    new_request_id,
)

# (status, message) per kind of refusal, checked in order (subclasses first); the
# code is the status's usual one (shared.errors.CODES).
_REFUSALS: tuple[tuple[type[BaseException], int, str], ...] = (
    # A header the application tried to send is our fault, not the client's.
    (http_errors.InvalidResponseHeader, 500, "Internal server error"),
    (http_errors.InvalidResponseHeaderName, 500, "Internal server error"),
    (http_errors.ConfigurationProblem, 500, "Internal server error"),
    (http_errors.LimitRequestLine, 414, "The request line is too long"),
    (
        http_errors.LimitRequestHeaders,
        431,
        "Too many header fields, or a header field too large",
    ),
    (http_errors.UnsupportedTransferCoding, 501, "The transfer coding is not supported"),
    (http_errors.ExpectationFailed, 417, "The expectation is not supported"),
    (http_errors.ForbiddenProxyRequest, 403, "Request forbidden"),
    (ssl.SSLError, 403, "Request forbidden"),
    (http_errors.ParseException, 400, "The request is not valid HTTP"),
)


def refusal_for(exc: BaseException) -> tuple[int, str, str]:
    """The status, code and message gunicorn's refusal of a request gets."""
    status, message = next(
        ((status, message) for kind, status, message in _REFUSALS if isinstance(exc, kind)),
        (500, "Internal server error"),
    )
    return status, CODES[status], message


def _request_id_of(req: Any) -> str:
    for name, value in getattr(req, "headers", None) or []:
        if name.upper() == REQUEST_ID_HEADER.upper() and is_valid_request_id(value):
            return str(value)
    return new_request_id()


def json_error_bytes(status: int, code: str, message: str, request_id: str) -> bytes:
    """A whole HTTP/1.1 response carrying the JSON error body; the connection closes after it."""
    body = json.dumps(error_document(code, message, {}, request_id)).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{REQUEST_ID_HEADER}: {request_id}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class JSONErrorsMixin:
    """Replaces ``gunicorn.workers.base.Worker.handle_error``."""

    log: Any

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        status, code, message = refusal_for(exc)
        request_id = _request_id_of(req)
        peer = (addr or ("", -1))[0]
        if status < 500:
            # The class says what was wrong; str(exc) would quote the request line
            # or header it choked on, which may carry a token.
            self.log.warning(
                "refused a request from ip=%s: %s %s (request id %s)",
                peer,
                status,
                type(exc).__name__,
                request_id,
            )
        else:
            self.log.exception(
                "error handling %s %s (request id %s)",
                getattr(req, "method", "-"),
                getattr(req, "path", "-"),
                request_id,
            )
        try:
            util.write_nonblock(client, json_error_bytes(status, code, message, request_id))
        except Exception:  # the client may be gone: nothing to answer
            self.log.debug("could not send the error answer")


class ThreadWorker(JSONErrorsMixin, _ThreadWorker):
    """gunicorn's gthread worker with JSON error answers (the services)."""


class GeventWorker(JSONErrorsMixin, _GeventWorker):
    """gunicorn's gevent worker with JSON error answers (the gateway)."""


class _FrotaLogger(Logger):
    """gunicorn's logger, its lines formatted like the application's (LOG_FORMAT)."""

    log_format: str

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # The process name is "frota-<part>" (frota.stack.gunicorn_command).
        service = cfg.proc_name.removeprefix("frota-")
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(FORMATTERS[self.log_format](service))
            handler.addFilter(RequestIdFilter())


class JSONLogger(_FrotaLogger):
    """gunicorn's lines as JSON (LOG_FORMAT=json)."""

    log_format = "json"


class ConsoleLogger(_FrotaLogger):
    """gunicorn's lines as readable text (LOG_FORMAT=console)."""

    log_format = "console"
