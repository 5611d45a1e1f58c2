"""Keyset pagination with opaque cursors: the cost of a page stays flat as tables grow.

A cursor is the sort key of the last row of a page, JSON-encoded and
base64url'd, behind a tag naming the order it belongs to (so that a cursor of
one list or sort order is refused by another, even when its values would fit).
The next page is ``WHERE (k1, k2) > (:v1, :v2)`` on an index, never an OFFSET.

Jobs that walk a whole table (pruning, reconciling) take the same keyset in
batches with :func:`keyset_batches`, without cursors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session

from shared.errors import APIError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far above any cursor we issue (a time and an id are ~110 characters; a name
# and an id a few hundred), so that decoding a hostile one stays cheap.
MAX_CURSOR_LENGTH = 2048
_SURROGATE = re.compile("[\ud800-\udfff]")

# A sort key column: a mapped attribute (``Vehicle.plate``) or a column expression.
OrderColumn = sa.ColumnElement[Any] | QueryableAttribute[Any]


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def order_tag(columns: Sequence[OrderColumn], descending: bool) -> str:
    """A short name of the ordering: the columns (with their tables) and the direction."""
    spelled = ",".join(str(c) for c in columns) + (" desc" if descending else " asc")
    return hashlib.sha256(spelled.encode()).hexdigest()[:12]


def encode_cursor(
    values: Sequence[Any], columns: Sequence[OrderColumn], *, descending: bool = False
) -> str:
    """The cursor after the row whose sort key is ``values`` in this ordering."""
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    document = [order_tag(columns, descending), *plain]
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def _invalid_cursor() -> APIError:
    return APIError(400, "invalid_cursor", "The cursor is not one this API issued")


def decode_cursor(
    cursor: str, columns: Sequence[OrderColumn], *, descending: bool = False
) -> list[Any]:
    """Turn a cursor back into typed values for ``columns``; 400 if it is not ours."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _invalid_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        # RecursionError: json.loads of a deeply nested array ("[[[[...").
        raise _invalid_cursor() from None
    if not isinstance(raw, list) or len(raw) != len(columns) + 1:
        raise _invalid_cursor()
    if raw[0] != order_tag(columns, descending):
        raise _invalid_cursor()
    return [_typed(column, value) for column, value in zip(columns, raw[1:], strict=True)]


def _typed(column: OrderColumn, value: Any) -> Any:
    """One sort-key value as ``column`` holds it, or 400 for anything we would not issue."""
    # PostgreSQL text cannot hold NUL, and psycopg2 cannot encode a lone
    # surrogate: either would be a driver error (a 500).
    if not isinstance(value, str) or "\x00" in value or _SURROGATE.search(value):
        raise _invalid_cursor()
    python_type = column.type.python_type
    try:
        if python_type is datetime:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                # We issue UTC offsets; a naive time would be read in the session's zone.
                raise _invalid_cursor()
            return moment
        if python_type is uuid.UUID:
            return uuid.UUID(value)
        if python_type is int:
            return int(value)
        if python_type is Decimal:
            number = Decimal(value)
            if not number.is_finite():
                raise _invalid_cursor()
            return number
    except (ValueError, ArithmeticError):
        raise _invalid_cursor() from None
    return value


def paginate(
    session: Session,
    stmt: sa.Select[Any],
    *,
    order_by: Sequence[OrderColumn],
    limit: int,
    cursor: str | None,
    descending: bool = False,
) -> Page:
    """Run ``stmt`` for one page ordered by ``order_by`` (unique as a whole, last column the id)."""
    if cursor:
        values = decode_cursor(cursor, order_by, descending=descending)
        stmt = stmt.where(_past(order_by, values, descending=descending))
    ordering = [c.desc() for c in order_by] if descending else list(order_by)
    rows = session.scalars(stmt.order_by(*ordering).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(
            [getattr(last, str(c.key)) for c in order_by], order_by, descending=descending
        )
    return Page(items=list(rows), next_cursor=next_cursor)


def keyset_batches(
    session: Session,
    stmt: sa.Select[*tuple[Any, ...]],
    *,
    order_by: Sequence[OrderColumn],
    batch_size: int,
) -> Iterator[Sequence[sa.Row[*tuple[Any, ...]]]]:
    """The rows of ``stmt`` in ``order_by`` order, ``batch_size`` at a time.

    ``stmt`` has no ORDER BY or LIMIT of its own, and ``order_by`` is unique
    as a whole (last column the id). Each batch is a query of its own that
    resumes after the sort key of the last row handed out, so memory holds one
    batch, and the caller may delete, change or lock rows (and commit) between
    batches: a row is never handed out twice, rows deleted meanwhile are simply
    not seen, and the walk ends even when the caller changes nothing. The rows
    carry the sort key as extra columns at the end; read them by name.
    """
    keyed = stmt.add_columns(*(column.label(None) for column in order_by))
    after: Sequence[Any] | None = None
    while True:
        batch = keyed if after is None else keyed.where(_past(order_by, after))
        rows = session.execute(batch.order_by(*order_by).limit(batch_size)).all()
        if not rows:
            return
        yield rows
        after = tuple(rows[-1])[-len(order_by) :]


def _past(
    order_by: Sequence[OrderColumn], values: Sequence[Any], *, descending: bool = False
) -> sa.ColumnElement[bool]:
    """The rows after the sort key ``values`` in this ordering: never an OFFSET."""
    key = sa.tuple_(*order_by)
    return key < sa.tuple_(*values) if descending else key > sa.tuple_(*values)
