"""Strict decoding of JSON request bodies: what Python's json module lets through, we refuse.

``json.loads`` accepts documents that make trouble further in: lone UTF-16
surrogates (``"\\ud800"``, a ``str`` that PostgreSQL's driver cannot encode),
integers of thousands of digits (``int()`` raises past 4300 digits, and far
fewer overflow any column), ``NaN`` and ``Infinity`` (not JSON at all), and
nesting deep enough to hit the recursion limit. Each of these is a 400
``malformed_json`` here, before any view or schema sees the body.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from shared.errors import APIError

# No Frota document nests deeper than a few levels; 32 leaves room and keeps the
# walk below (and anything recursive after it) far from the recursion limit.
MAX_DEPTH = 32
# Wider than any column (bigint has 19 digits) so that the schemas, not the
# parser, say which field is out of range; narrow enough that int() stays cheap.
MAX_INTEGER_DIGITS = 40
# A lone surrogate can only come from a \uD800-\uDFFF escape: the body is
# decoded as UTF-8, which refuses encoded surrogates. Without such an escape in
# the text the walk for surrogates is skipped.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def malformed(message: str) -> APIError:
    return APIError(400, "malformed_json", message)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise malformed(f"A number has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise malformed("A number is too large")
    return value


def _parse_constant(name: str) -> Any:
    raise malformed(f"{name} is not a JSON value")


def _check_strings_and_depth(document: Any, *, check_strings: bool) -> None:
    """Walk the decoded document without recursion: depth, and lone surrogates."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if check_strings and _SURROGATE.search(value):
                raise malformed("A string holds a lone UTF-16 surrogate (not a character)")
            continue
        if isinstance(value, dict):
            children: Any = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise malformed(f"The document nests deeper than {MAX_DEPTH} levels")
        pending.extend((child, depth + 1) for child in children)


def parse_json(data: bytes | str) -> Any:
    """Decode a JSON document, refusing what the API cannot hold (raises APIError 400)."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        text = raw.decode("utf-8")
        document = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except UnicodeDecodeError:
        raise malformed("The body is not UTF-8") from None
    except RecursionError:
        # The C scanner stops at the interpreter's recursion limit: cheap to refuse.
        raise malformed(f"The document nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise malformed(f"The body is not valid JSON: {_position(exc)}") from None
    check_strings = _SURROGATE_ESCAPE.search(raw) is not None
    # Fewer brackets than the depth limit cannot nest past it: most bodies skip the walk.
    could_nest_too_deep = raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
    if check_strings or could_nest_too_deep:
        _check_strings_and_depth(document, check_strings=check_strings)
    return document


def _position(exc: ValueError) -> str:
    # JSONDecodeError's own message names line and column; it never quotes the body.
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "unreadable"


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, decoding with :func:`parse_json` (``request.get_json``)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)


def init_strict_json(app: Flask) -> None:
    """Check every JSON request body of ``app`` before its view runs.

    The views' schemas (APIFlask through webargs) parse the body with the
    standard library; checking it first means that what reaches them is a
    document ``json.loads`` decodes to the same value with nothing hostile in it.
    """
    app.json = StrictJSONProvider(app)

    @app.before_request
    def refuse_hostile_json() -> None:
        if request.is_json and request.content_length != 0:
            body = request.get_data(cache=True)
            if body:
                parse_json(body)
        elif _takes_json(app) and (request.mimetype or request.get_data(cache=True)):
            # Read as JSON regardless, a form or a text body would be an empty
            # document: a 422 naming every field as missing, hiding the real mistake.
            sent = request.mimetype or "a body of no declared type"
            raise APIError(
                415, "unsupported_media_type", f"This operation takes application/json, not {sent}"
            )


def _takes_json(app: Flask) -> bool:
    """Whether the matched view declares a JSON body (APIFlask's ``@input`` annotation)."""
    view = app.view_functions.get(request.endpoint or "")
    return getattr(view, "_spec", {}).get("content_type") == "application/json"
