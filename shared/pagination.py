"""Keyset pagination with opaque cursors: the cost of a page stays flat as tables grow.

A cursor is the sort key of the last row of a page, JSON-encoded and
base64url'd. The next page is ``WHERE (k1, k2) > (:v1, :v2)`` on an index,
never an OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.errors import APIError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _invalid_cursor() -> APIError:
    return APIError(400, "invalid_cursor", "The cursor is not one this API issued")


def decode_cursor(cursor: str, columns: Sequence[sa.ColumnElement[Any]]) -> list[Any]:
    """Turn a cursor back into typed values for ``columns``; 400 if it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        # RecursionError: json.loads of a deeply nested array ("[[[[...").
        raise _invalid_cursor() from None
    if not isinstance(raw, list) or len(raw) != len(columns):
        raise _invalid_cursor()
    values: list[Any] = []
    for column, value in zip(columns, raw, strict=True):
        # PostgreSQL text cannot hold NUL; psycopg2 would raise a ValueError (a 500).
        if not isinstance(value, str) or "\x00" in value:
            raise _invalid_cursor()
        python_type = column.type.python_type
        try:
            if python_type is datetime:
                values.append(datetime.fromisoformat(value))
            elif python_type is uuid.UUID:
                values.append(uuid.UUID(value))
            elif python_type in (int, Decimal):
                values.append(python_type(value))
            else:
                values.append(value)
        except (ValueError, ArithmeticError):
            raise _invalid_cursor() from None
    return values


def paginate(
    session: Session,
    stmt: sa.Select[Any],
    *,
    order_by: Sequence[sa.ColumnElement[Any]],
    limit: int,
    cursor: str | None,
    descending: bool = False,
) -> Page:
    """Run ``stmt`` for one page ordered by ``order_by`` (unique as a whole, last column the id)."""
    if cursor:
        values = decode_cursor(cursor, order_by)
        key = sa.tuple_(*order_by)
        stmt = stmt.where(key < sa.tuple_(*values) if descending else key > sa.tuple_(*values))
    ordering = [c.desc() for c in order_by] if descending else list(order_by)
    rows = session.scalars(stmt.order_by(*ordering).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, str(c.key)) for c in order_by])
    return Page(items=list(rows), next_cursor=next_cursor)
