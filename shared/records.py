"""The records a caller may see, declared once per kind: one of them, or a page of them.

Every kind of record has one visibility rule (managers see all; a driver sees
what the rule says) and one not-found error. From that declaration come both
"one record the caller may see, else 404" and the rows a list starts from;
with it the list's filters (which query parameter puts which condition on the
rows) and its order. A list route's view only returns the rows the caller
may see (a select); :func:`paginated` filters, pages and serialises them, as
JSON or, where the list offers it, as CSV. Where a route only reads what
the declaration says, :func:`list_route` and :func:`get_route` declare it whole.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from apiflask import APIBlueprint, Schema
from sqlalchemy.orm import Session

from shared.csv_export import page_as_csv
from shared.db import current_session
from shared.errors import APIError
from shared.internal_auth import Identity, current_identity, user_auth
from shared.pagination import OrderColumn, Page, paginate
from shared.roles import Role
from shared.schemas import page_of

Record = TypeVar("Record")
# A query parameter's value → the condition it puts on the rows.
Filter = Callable[[Any], sa.ColumnElement[bool]]
# The query parameters every list has; the others are its filters.
PAGING = frozenset({"limit", "cursor", "format", "sort"})


def equals(column: OrderColumn) -> Filter:
    return lambda value: column == value


def at_or_after(column: OrderColumn) -> Filter:
    return lambda moment: column >= moment


def before(column: OrderColumn) -> Filter:
    return lambda moment: column < moment


def flag(condition: Callable[[], sa.ColumnElement[bool]]) -> Filter:
    """A yes/no filter: ``true`` keeps the rows meeting ``condition``, ``false`` the others.

    ``condition`` is built per request (it may depend on the time now).
    """
    return lambda wanted: condition() if wanted else sa.not_(condition())


def unless_included(usual: Callable[[], sa.ColumnElement[bool]]) -> Filter:
    """An ``include_…`` switch: only the rows meeting ``usual``, unless ``true`` adds the rest."""
    return lambda include: sa.true() if include else usual()


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
    drivers_see: Callable[[Identity], sa.ColumnElement[bool]] | None = None
    # Applied for everyone: e.g. rows being deleted are no one's to see.
    always: Callable[[], sa.ColumnElement[bool]] | None = None
    options: Sequence[Any] = ()
    order_by: Sequence[OrderColumn] = ()
    descending: bool = False
    filters: Mapping[str, Filter] = field(default_factory=dict)
    sorts: Mapping[str, Sequence[OrderColumn]] = field(default_factory=dict)

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
                stmt = stmt.where(self.filters[name](value))
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


def paginated(
    bp: APIBlueprint,
    records: Records[Any],
    *,
    query: type[Schema],
    item: type[Schema],
    csv_filename: str | None = None,
) -> Callable[[Callable[..., sa.Select[Any]]], Callable[..., Any]]:
    """Make a view that returns a select into a list route: filtered, paged, serialised.

    ``query`` is the list's query schema: paging (shared.schemas.PageQuery), the
    filters ``records`` declares and, with ``csv_filename``, ``format``. Its
    fields and the declared filters must agree, or the route is not built.
    """
    taken, declared = set(query().fields) - PAGING, set(records.filters)
    if taken != declared:
        raise TypeError(
            f"{query.__name__} takes {sorted(taken)}, the filters are {sorted(declared)}"
        )

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


def list_route(
    bp: APIBlueprint,
    rule: str,
    records: Records[Any],
    *,
    endpoint: str,
    query: type[Schema],
    item: type[Schema],
    summary: str,
    roles: list[Role] | None = None,
    csv_filename: str | None = None,
) -> None:
    """Declare ``GET rule``: a page of the records the caller may see, as ``query`` asks."""

    def view() -> sa.Select[Any]:
        return records.select(current_identity())

    # The view's name is the endpoint's; its docstring, as any view's, the operation's summary.
    view.__name__ = view.__qualname__ = endpoint
    view.__doc__ = summary
    listed = paginated(bp, records, query=query, item=item, csv_filename=csv_filename)
    bp.get(rule)(bp.auth_required(user_auth, roles=roles)(listed(view)))


def get_route(
    bp: APIBlueprint,
    rule: str,
    records: Records[Any],
    *,
    endpoint: str,
    item: type[Schema],
    summary: str,
    roles: list[Role] | None = None,
) -> None:
    """Declare ``GET rule`` (its one variable the record's id): the record, else 404."""

    def view(**path: uuid.UUID) -> Any:
        (record_id,) = path.values()
        return records.get(current_session(), current_identity(), record_id)

    view.__name__ = view.__qualname__ = endpoint
    view.__doc__ = summary
    bp.get(rule)(bp.auth_required(user_auth, roles=roles)(bp.output(item)(view)))
