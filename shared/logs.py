"""JSON log lines that always carry the service name and the request id."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TypeGuard

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is reused only when it is short and plain, so that it
# can go into log lines and headers as it is.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def is_valid_request_id(value: object) -> TypeGuard[str]:
    # fullmatch: ``$`` would also accept a trailing newline.
    return isinstance(value, str) and _REQUEST_ID_RE.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, request id, message."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

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


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of this process to stderr as a JSON line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter(service))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    # Replace only a handler we installed before (an app factory may run more
    # than once per process); others, such as pytest's capture, stay.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, JSONFormatter)]
    root.addHandler(handler)
    root.setLevel(level)


access_logger = logging.getLogger("frota.access")


def init_request_logging(app: Flask) -> None:
    """Log one line per request with its status and duration.

    The request id itself is established before this runs (by the gateway from
    the client, by services from the internal credential).
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
                "user_id": getattr(g.get("identity"), "user_id", None),
            },
        )
        return response
