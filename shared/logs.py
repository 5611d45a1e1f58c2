"""Log lines that always carry the service name and the request id.

Two formats (``LOG_FORMAT``): JSON lines for containers and log collectors, and
one readable line per record for a person watching `frota up` in a terminal.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeGuard

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import exc as sa_exc

from shared.errors import describe_database_error

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is reused only when it is short and plain, so that it
# can go into log lines and headers as it is.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def is_valid_request_id(value: object) -> TypeGuard[str]:
    # fullmatch: ``$`` would also accept a trailing newline.
    return isinstance(value, str) and _REQUEST_ID_RE.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


class _RedactingFormatter(logging.Formatter):
    """The service's formatter base: tracebacks never quote what a database error quotes."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        """The traceback, with database errors described without the values they quote."""
        exc = ei[1]
        if exc is None:
            return ""
        return "".join(_format_chain(exc, set()))


class JSONFormatter(_RedactingFormatter):
    """One JSON object per line: time, level, service, request id, message."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
        }
        for key in ("method", "path", "status", "duration_ms", "user_id"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


# Control characters (newlines, terminal escapes) a client can put in a path:
# written out as \xNN so that no request can forge a line or drive the terminal.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROL_CHARACTERS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class ConsoleFormatter(_RedactingFormatter):
    """One readable line per record: local time, service, then the request or the message.

    ``23:41:02.125 gateway GET /api/v1/vehicles 200 12.3 ms id=4f3a…`` for a
    request; ``23:41:02.130 media   WARNING frota.media.retention: … id=…`` for
    the rest. A traceback follows on the lines after its record.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        status = getattr(record, "status", None)
        if status is not None:  # a request's line (init_request_logging)
            method, path = getattr(record, "method", "-"), getattr(record, "path", "-")
            duration = getattr(record, "duration_ms", None)
            text = f"{method} {path} {status}"
            text += f" {duration:.1f} ms" if duration is not None else ""
        else:
            text = f"{record.levelname} {record.name}: {record.getMessage()}"
        line = f"{stamp} {self.service:<7} {_printable(text)}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            line += f" id={request_id}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info).rstrip("\n")
        return line


FORMATTERS: dict[str, type[_RedactingFormatter]] = {
    "json": JSONFormatter,
    "console": ConsoleFormatter,
}


def _format_chain(exc: BaseException, seen: set[int]) -> list[str]:
    """Like ``traceback.format_exception``, but database errors keep only their class,
    SQLSTATE and names (PostgreSQL's messages quote values: personal data).

    ``seen`` stops at a cycle in the chain, as the traceback module does.
    """
    seen.add(id(exc))
    lines: list[str] = []
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and id(cause) not in seen:
        lines += _format_chain(cause, seen)
        lines.append(
            "\nThe above exception was the direct cause of the following exception:\n\n"
            if exc.__cause__ is not None
            else "\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    lines.append("Traceback (most recent call last):\n")
    lines += traceback.format_tb(exc.__traceback__)
    if _is_database_error(exc):
        lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}: ")
        lines.append(describe_database_error(exc) + "\n")
    else:
        lines += traceback.format_exception_only(type(exc), exc)
    return lines


def _is_database_error(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.StatementError):
        return True
    # The driver's own exceptions (psycopg2.Error), chained under SQLAlchemy's.
    return type(exc).__module__.startswith("psycopg2")


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def configure_logging(service: str, level: str = "INFO", log_format: str = "json") -> None:
    """Send every log record of this process to stderr, as ``log_format`` lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FORMATTERS[log_format](service))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    # Replace only a handler we installed before (an app factory may run more
    # than once per process); others, such as pytest's capture, stay.
    root.handlers[:] = [
        h for h in root.handlers if not isinstance(h.formatter, _RedactingFormatter)
    ]
    root.addHandler(handler)
    root.setLevel(level)


access_logger = logging.getLogger("frota.access")


def _credential_user_id() -> str | None:
    # A service's Identity (shared/internal_auth.py, which imports this module).
    return getattr(g.get("identity"), "user_id", None)


def init_request_logging(
    app: Flask, *, user_id: Callable[[], str | None] = _credential_user_id
) -> None:
    """Log one line per request with its status, duration and ``user_id()``.

    The request id itself is established before this runs (by the gateway from
    the client, by services from the internal credential). The user is by
    default the internal credential's; the gateway names the client token's.
    """

    @app.before_request
    def start_timer() -> None:
        g.started_at = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("started_at")
        duration = round((time.perf_counter() - started) * 1000, 2) if started else None
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration,
                "user_id": user_id(),
            },
        )
        return response
