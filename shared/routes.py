"""Routes declared, not written: what a route admits, calls and answers.

A route that only reads what a :class:`~shared.records.Records` declaration
says is :func:`list_route` or :func:`get_route`; one that changes something
is :func:`command_route`, which calls the service function that does it. A
view is written by hand only where a route does more than call one function
and answer with what it returns (a login, an upload, a file's bytes).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint, Schema

from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import Records, paginated
from shared.roles import Role

# A parameter's name, and what makes its value for each request: what a command's
# service function is given, beyond the rule's variables and the body.
Uses = dict[str, Callable[[], Any]]
# Every command may name these; ``uses=`` adds the ones only some need.
REQUEST_VALUES: Uses = {"db_session": current_session, "identity": current_identity}


def _named(view: Callable[..., Any], endpoint: str, summary: str) -> Callable[..., Any]:
    """The view's name is the endpoint's; its docstring, as any view's, the operation's summary."""
    view.__name__ = view.__qualname__ = endpoint
    view.__doc__ = summary
    return view


def list_route(
    bp: APIBlueprint,
    rule: str,
    records: Records[Any],
    *,
    endpoint: str,
    item: type[Schema],
    summary: str,
    roles: list[Role] | None = None,
    csv_filename: str | None = None,
) -> None:
    """Declare ``GET rule``: a page of the records the caller may see, filtered as declared."""

    def view() -> sa.Select[Any]:
        return records.select(current_identity())

    listed = paginated(bp, records, item=item, csv_filename=csv_filename)
    bp.get(rule)(bp.auth_required(user_auth, roles=roles)(listed(_named(view, endpoint, summary))))


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

    shown = bp.output(item)(_named(view, endpoint, summary))
    bp.get(rule)(bp.auth_required(user_auth, roles=roles)(shown))


def command_route(
    bp: APIBlueprint,
    method: str,
    rule: str,
    handler: Callable[..., Any],
    *,
    item: type[Schema],
    summary: str,
    body: type[Schema] | None = None,
    body_as: str | None = None,
    status_code: int = 200,
    roles: list[Role] | None = None,
    uses: Uses | None = None,
    endpoint: str | None = None,
) -> None:
    """Declare ``method rule``: ``handler`` does the change; its result, as ``item``, is the answer.

    ``handler`` is called with the rule's variables and the body's fields (or
    the whole body as its parameter ``body_as``, for a set of changes), and with
    those of :data:`REQUEST_VALUES` and ``uses`` that it names as parameters.
    The endpoint is the handler's name unless ``endpoint`` says otherwise.
    """
    parameters = inspect.signature(handler).parameters
    uses = uses or {}
    if unknown := set(uses) - set(parameters):
        raise TypeError(f"{rule}: the handler takes no {', '.join(sorted(unknown))}")
    values = {name: make for name, make in {**REQUEST_VALUES, **uses}.items() if name in parameters}

    def view(**arguments: Any) -> Any:
        if body is not None:
            fields = arguments.pop("body")
            arguments.update({body_as: fields} if body_as else fields)
        return handler(**{name: make() for name, make in values.items()}, **arguments)

    declared = bp.output(item, status_code=status_code)(
        _named(view, endpoint or handler.__name__, summary)
    )
    if body is not None:
        declared = bp.input(body, arg_name="body")(declared)
    bp.route(rule, methods=[method])(bp.auth_required(user_auth, roles=roles)(declared))
