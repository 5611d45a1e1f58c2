"""The records a caller may see, declared once per kind: one of them, or a page of them.

Every kind of record has one visibility rule (managers see all; a driver sees
what the rule says) and one not-found error. From that declaration come both
"one record the caller may see, else 404" and the rows a list starts from;
with it the list's filters (which query parameter puts which condition on the
rows) and its order. A list route's view only returns the rows the caller
may see (a select); :func:`paginated` filters, pages and serialises them, as
JSON or, where the list offers it, as CSV. Where a route only reads what
the declaration says, :func:`shared.routes.list_route` and
:func:`shared.routes.get_route` declare it whole.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa
from apiflask import APIBlueprint, Schema
from apiflask.fields import UUID, Boolean, Field, String
from apiflask.validators import Length, OneOf
from sqlalchemy.orm import Session

from shared.csv_export import format_field, page_as_csv
from shared.db import current_session
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.pagination import OrderColumn, Page, paginate
from shared.schemas import PageQuery, Trimmed, UTCDateTime, page_of

Record = TypeVar("Record")
Condition = sa.ColumnElement[bool]
# The query parameters every list has; the others are its filters.
PAGING = frozenset({"limit", "cursor", "format", "sort"})


@dataclass(frozen=True)
class Filter:
    """One query parameter of a list: the field it is read with, the condition it sets.

    ``field`` makes the field (each query schema needs its own instance).
    A parameter left out (None) sets no condition.
    """

    where: Callable[[Any], Condition]
    field: Callable[[], Field]


def _field_of(column: OrderColumn, choices: Sequence[str] | None) -> Callable[[], Field]:
    python_type = column.type.python_type
    if python_type is uuid.UUID:
        return lambda: UUID(load_default=None)
    if python_type is bool:
        return lambda: Boolean(load_default=None)
    if python_type is str and choices:
        return lambda: String(load_default=None, validate=OneOf(choices))
    raise TypeError(f"equals({column}): no query field for {python_type} (choices missing?)")


def equals(column: OrderColumn, *, choices: Sequence[str] | None = None) -> Filter:
    """``?name=value``: the rows whose ``column`` is the value (one of ``choices`` for text)."""
    return Filter(lambda value: column == value, _field_of(column, choices))


def period(column: OrderColumn, *, verb: str) -> dict[str, Filter]:
    """``?from=&to=``: the rows whose ``column`` is at or after ``from`` and before ``to``.

    Filters named ``{verb}_from`` and ``{verb}_before`` ("filled" for a fill's time).
    """

    def bound(param: str, description: str) -> Callable[[], Field]:
        return lambda: UTCDateTime(
            data_key=param, load_default=None, metadata={"description": description}
        )

    return {
        f"{verb}_from": Filter(
            lambda moment: column >= moment, bound("from", f"{verb.capitalize()} at or after")
        ),
        f"{verb}_before": Filter(
            lambda moment: column < moment, bound("to", f"{verb.capitalize()} before")
        ),
    }


def flag(condition: Callable[[], Condition], *, description: str | None = None) -> Filter:
    """A yes/no filter: ``true`` keeps the rows meeting ``condition``, ``false`` the others.

    ``condition`` is built per request (it may depend on the time now).
    """
    metadata = {"description": description} if description else {}
    return Filter(
        lambda wanted: condition() if wanted else sa.not_(condition()),
        lambda: Boolean(load_default=None, metadata=metadata),
    )


def unless_included(usual: Callable[[], Condition]) -> Filter:
    """An ``include_…`` switch: only the rows meeting ``usual``, unless ``true`` adds the rest."""
    return Filter(
        lambda include: sa.true() if include else usual(),
        lambda: Boolean(load_default=False),
    )


def text(where: Callable[[str], Condition], *, max_length: int) -> Filter:
    """A text parameter (a search, a name) turned into a condition by ``where``; blank
    is no condition, as absent is."""
    return Filter(where, lambda: Trimmed(load_default=None, validate=Length(max=max_length)))


@dataclass(frozen=True)
class Records(Generic[Record]):
    """One kind of record as callers see it: who sees which, and how a list of them goes.

    Managers see every record; others those ``drivers_see`` allows (None where
    every caller a route admits sees every record: the route's declared roles
    are the rule). A list is filtered by the query parameters named in
    ``filters`` and paged in ``order_by`` order, which ends with the id (keyset
    pages need a unique order); where it takes ``?sort=``, ``sorts`` names each
    key's order instead (``-key`` descends).
    """

    model: type[Record]
    not_found: tuple[str, str]
    drivers_see: Callable[[Identity], Condition] | None = None
    # Applied for everyone: e.g. rows being deleted are no one's to see.
    always: Callable[[], Condition] | None = None
    options: Sequence[Any] = ()
    order_by: Sequence[OrderColumn] = ()
    descending: bool = False
    filters: Mapping[str, Filter] = dataclass_field(default_factory=dict)
    sorts: Mapping[str, Sequence[OrderColumn]] = dataclass_field(default_factory=dict)

    def select(self, identity: Identity) -> sa.Select[Any]:
        """The records ``identity`` may see."""
        stmt = sa.select(self.model).options(*self.options)
        if self.always is not None:
            stmt = stmt.where(self.always())
        if self.drivers_see is not None and not identity.is_manager:
            stmt = stmt.where(self.drivers_see(identity))
        return stmt

    def get(
        self,
        db_session: Session,
        identity: Identity,
        record_id: uuid.UUID,
        *,
        for_update: bool = False,
    ) -> Record:
        """The record if the caller may see it, else 404 (unknown and hidden alike)."""
        (id_column,) = sa.inspect(self.model).primary_key
        stmt = self.select(identity).where(id_column == record_id)
        if for_update:
            # Locked to be changed: read afresh, not from what the session holds.
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        record = db_session.scalar(stmt)
        if record is None:
            raise APIError(404, *self.not_found)
        return record

    def page(self, db_session: Session, stmt: sa.Select[Any], query: Mapping[str, Any]) -> Page:
        """One page of ``stmt``'s rows, filtered and ordered as the list's ``query`` asks."""
        for name, value in query.items():
            if name not in PAGING and value is not None:
                stmt = stmt.where(self.filters[name].where(value))
        order_by, descending = self.order_by, self.descending
        if self.sorts:
            key = query["sort"]
            order_by, descending = self.sorts[key.removeprefix("-")], key.startswith("-")
        return paginate(
            db_session,
            stmt,
            order_by=order_by,
            limit=query["limit"],
            cursor=query["cursor"],
            descending=descending,
        )

    def query_schema(self, name: str, *, csv: bool) -> type[Schema]:
        """The list's query: paging, each filter's parameter, ``sort`` and ``format``."""
        fields: dict[str, Field] = {key: spec.field() for key, spec in self.filters.items()}
        if self.sorts:
            keys = list(self.sorts)
            fields["sort"] = String(
                load_default=keys[0],
                validate=OneOf([*keys, *(f"-{key}" for key in keys)]),
                metadata={"description": "A key, descending with a leading '-'"},
            )
        if csv:
            fields["format"] = format_field()
        # from_dict subclasses PageQuery, but marshmallow annotates it as its own Schema.
        return cast(type[Schema], PageQuery.from_dict(fields, name=name))


def paginated(
    bp: APIBlueprint,
    records: Records[Any],
    *,
    item: type[Schema],
    csv_filename: str | None = None,
) -> Callable[[Callable[..., sa.Select[Any]]], Callable[..., Any]]:
    """Make a view that returns a select into a list route: filtered, paged, serialised.

    Its query parameters are the declaration's: paging, the filters ``records``
    declares, ``sort`` where it sorts and, with ``csv_filename``, ``format``.
    """
    name = item.__name__.removesuffix("Out") + "ListQuery"
    query = records.query_schema(name, csv=csv_filename is not None)

    def decorator(view: Callable[..., sa.Select[Any]]) -> Callable[..., Any]:
        @bp.input(query, location="query", arg_name="query")
        @bp.output(page_of(item))
        @functools.wraps(view)
        def list_view(*args: Any, query: dict[str, Any], **kwargs: Any) -> Any:
            page = records.page(current_session(), view(*args, **kwargs), query)
            if csv_filename and query.get("format") == "csv":
                return page_as_csv(page, item, filename=csv_filename)
            return page

        return list_view

    return decorator
