"""One JSON error shape for every response that is not a success.

``{"error": {"code", "message", "details", "request_id"}}`` — for errors raised
by our code (:class:`APIError`), for werkzeug's own (404, 405, 413 …), for
validation failures, and for unhandled exceptions, which are logged with their
traceback and answered without internals.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, json
from gunicorn.http.errors import ParseException
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

# What SQLAlchemy raises when the database cannot be reached or went away mid-way:
# a request answers 503 and a job runs again later, neither being the caller's fault.
DATABASE_UNAVAILABLE: tuple[type[sa_exc.SQLAlchemyError], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
)

logger = logging.getLogger("frota.errors")

# The snake_case code clients switch on, per status, when the raiser gave none.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    417: "expectation_failed",
    422: "validation_error",
    429: "rate_limited",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    502: "upstream_unavailable",
    503: "service_unavailable",
    504: "upstream_timeout",
    507: "insufficient_storage",
}


class APIError(Exception):
    """An error the client should see, with its HTTP status and a stable code."""

    def __init__(
        self,
        status_code: int,
        code: str | None = None,
        message: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code or CODES.get(status_code, "error")
        self.message = message or self.code.replace("_", " ").capitalize()
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return error_document(self.code, self.message, self.details, g.get("request_id"))


def error_document(
    code: str, message: str, details: Mapping[str, Any], request_id: str | None
) -> dict[str, Any]:
    """The body of every error response (also written by gunicorn's workers, outside Flask)."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": dict(details),
            "request_id": request_id,
        }
    }


def error_response(
    status_code: int,
    code: str | None = None,
    message: str | None = None,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build the JSON error response (usable outside an exception handler)."""
    return _respond(APIError(status_code, code, message, details, headers))


def _respond(error: APIError) -> Response:
    response = Response(json.dumps(error.to_dict()), error.status_code, mimetype="application/json")
    for name, value in error.headers.items():
        response.headers[name] = value
    if error.status_code == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def describe_database_error(exc: BaseException) -> str:
    """What a database error was, without the values it quotes (for logs).

    PostgreSQL's messages quote values (``Key (username)=(ana) already exists``,
    ``invalid input syntax for type uuid: "..."``) and may hold personal data:
    only the error class, the SQLSTATE and the names involved are kept.
    """
    original = getattr(exc, "orig", None) or exc
    parts = [f"{type(exc).__name__}/{type(original).__name__}"]
    pgcode = getattr(original, "pgcode", None)
    if pgcode:
        parts.append(f"sqlstate={pgcode}")
    diag = getattr(original, "diag", None)
    for name in ("schema_name", "table_name", "column_name", "constraint_name"):
        value = getattr(diag, name, None)
        if value:
            parts.append(f"{name.removesuffix('_name')}={value}")
    if pgcode is None and not isinstance(original, sa_exc.StatementError):
        # No server answer (connection refused, pool exhausted): the driver's
        # own message names hosts and timeouts, not values.
        parts.append(str(original).splitlines()[0] if str(original) else "")
    return " ".join(p for p in parts if p)


def _from_werkzeug(exc: HTTPException) -> APIError:
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() not in {"content-type"}}
    message = exc.description if status != 404 else "No such resource"
    return APIError(status, message=message, headers=headers)


def _validation_details(detail: Any) -> dict[str, Any]:
    """Flatten webargs' ``{"json": {"plate": [...]}}`` to ``{"plate": [...]}``."""
    if not isinstance(detail, Mapping):
        return {}
    flat: dict[str, Any] = {}
    for location, fields in detail.items():
        if isinstance(fields, Mapping):
            flat.update(fields)
        else:
            flat[str(location)] = fields
    return flat


def refuse_redirecting_paths(app: Flask) -> None:
    """Answer ``//api/v1/...``, ``/path/`` and the like as any other path, never with a redirect.

    werkzeug's router would answer them 308 with a ``Location`` built from the
    Host header, which behind the gateway names an internal address; and Flask
    returns such routing redirects before any error handler sees them. So each
    path has one spelling: with ``//`` it matches no rule and is a JSON 404 (the
    gateway's route table and a service's rules then read a path the same way).
    Call before rules are added: each rule copies these flags when it is bound.
    """
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.url_map.redirect_defaults = False
    for rule in app.url_map.iter_rules():
        rule.merge_slashes = False
        rule.strict_slashes = False


@dataclass(frozen=True)
class Conflict:
    """The API error a database constraint's refusal stands for."""

    code: str
    message: str
    # When the refusal is about one field: ``details`` names it, with ``detail``.
    field: str | None = None
    detail: str | None = None
    status: int = 409

    def error(self) -> APIError:
        details = {self.field: [self.detail or self.message]} if self.field else None
        return APIError(self.status, self.code, self.message, details=details)


def violated_constraint(exc: sa_exc.IntegrityError) -> str:
    """The name of the constraint behind ``exc`` ("" when PostgreSQL did not say)."""
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""


def register_error_handlers(app: Flask, conflicts: Mapping[str, Conflict] | None = None) -> None:
    """Make every error response of ``app`` the JSON error shape (and refuse redirects).

    ``conflicts`` maps the names of the service's constraints to the errors
    their refusals stand for: a write the database refuses is answered by that
    table, in one place. The request's session is rolled back at teardown.
    """
    refuse_redirecting_paths(app)
    app.errorhandler(sa_exc.IntegrityError)(
        functools.partial(_handle_integrity_error, dict(conflicts or {}))
    )

    @app.errorhandler(APIError)
    def handle_api_error(exc: APIError) -> Response:
        return _respond(exc)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException) -> Response:
        return _respond(_from_werkzeug(exc))

    for unavailable in DATABASE_UNAVAILABLE:
        app.errorhandler(unavailable)(_handle_database_unavailable)

    @app.errorhandler(sa_exc.DataError)
    def handle_data_error(exc: sa_exc.DataError) -> Response:
        # A value the schemas let through but a column cannot hold (out of range,
        # not of the column's form): the client's input, not our failure. The
        # database's message quotes the value, so it is not logged.
        logger.warning("database refused a value: %s", describe_database_error(exc))
        return _respond(APIError(422, "invalid_value", "A value is outside what the API can store"))

    @app.errorhandler(ParseException)
    def handle_malformed_body(exc: ParseException) -> Response:
        # gunicorn's parser raises these from the body stream the view reads
        # (a broken chunked encoding): the request was malformed, not our code.
        return _respond(
            APIError(400, "malformed_body", "The request body is not valid HTTP framing")
        )

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        logger.exception("unhandled exception")
        return _respond(APIError(500, message="Internal server error"))

    error_processor = getattr(app, "error_processor", None)
    if error_processor is not None:
        # APIFlask routes werkzeug errors and validation failures through its
        # error processor rather than through errorhandler(HTTPException).
        error_processor(_handle_apiflask_error)


def _handle_database_unavailable(exc: Exception) -> Response:
    # The database is down or restarting: say so (clients retry), and let the
    # pool's pre-ping reconnect once it is back.
    logger.warning("database unavailable: %s", describe_database_error(exc))
    return _respond(
        APIError(
            503,
            "database_unavailable",
            "The database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )
    )


def _handle_integrity_error(
    conflicts: Mapping[str, Conflict], exc: sa_exc.IntegrityError
) -> Response:
    conflict = conflicts.get(violated_constraint(exc))
    if conflict is None:
        # A rule the table does not know yet: still the client's conflict with
        # the data, never a 500, and logged so that it gets a name.
        logger.warning("unmapped constraint refused a write: %s", describe_database_error(exc))
        return _respond(APIError(409, message="The change conflicts with existing data"))
    return _respond(conflict.error())


def _handle_apiflask_error(exc: Any) -> Response:
    status = exc.status_code
    if status == 422:
        return _respond(
            APIError(
                422,
                message="The request has invalid fields",
                details=_validation_details(exc.detail),
            )
        )
    if status == 400 and isinstance(exc.detail, Mapping) and exc.detail:
        return _respond(APIError(400, "malformed_request", str(exc.message), exc.detail))
    message = exc.message if status != 404 else "No such resource"
    return _respond(APIError(status, message=message, headers=exc.headers))
