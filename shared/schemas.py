"""Field types and schema helpers that every service's API uses the same way."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from apiflask import Schema
from apiflask.fields import UUID, Boolean, Date, Integer, List, Nested, String
from apiflask.validators import Range
from marshmallow import ValidationError, fields
from marshmallow.schema import SchemaMeta

from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT

# Nothing Frota records happened before 1970 or is planned after 2199; outside
# that range a time is a typo (or an attempt to overflow something).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_SURROGATE = re.compile("[\ud800-\udfff]")


class Text(String):
    """A string PostgreSQL can store: no NUL characters (text columns cannot hold
    them) and no lone UTF-16 surrogates (not characters; the driver cannot encode them).

    shared.json_body refuses surrogates in JSON bodies already; this names the
    field wherever else a string comes from.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        if _SURROGATE.search(text):
            raise ValidationError("Must not contain lone surrogates (not characters).")
        return text


class Trimmed(Text):
    """Free text as it is stored: without surrounding whitespace, and null rather than
    blank where the field may be null. Length limits apply to the trimmed text, so a
    blank required field is refused. (Passwords and tokens are plain ``Text``: every
    character of theirs counts.)"""

    def deserialize(self, value: Any, attr: Any = None, data: Any = None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value and self.allow_none:
                value = None
        return super().deserialize(value, attr, data, **kwargs)


# What would make a name read as something it is not: control characters (line
# breaks included), bidi controls that reorder what follows (U+202E shows
# "evil\u202eexe.pdf" as "evilfdp.exe"), and invisible characters that make two
# names look alike. ZWJ/ZWNJ stay: Persian and Indic names need them.
_MISLEADING_IN_NAMES = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff]"
)


class Name(Trimmed):
    """A name a person reads as an identity (a user's or a driver's full name): one
    line, without bidi controls or invisible characters."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        found = _MISLEADING_IN_NAMES.search(text)
        if found:
            raise ValidationError(
                f"Must not contain control, bidi or invisible characters "
                f"(found U+{ord(found.group()):04X})."
            )
        return text


class UTCDateTime(fields.DateTime):
    """RFC 3339 in UTC with a ``Z``; input must carry an offset (naive times are ambiguous)
    and lie between 1970 and 2199."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("Not a valid RFC 3339 date-time.")
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValidationError("Not a valid RFC 3339 date-time.") from None
        if parsed.tzinfo is None:
            raise ValidationError("Must include a UTC offset, e.g. 2026-01-31T12:00:00Z.")
        try:
            moment = parsed.astimezone(UTC)
        except OverflowError:
            # e.g. 0001-01-01T00:00:00+14:00 has no UTC equivalent in Python.
            raise ValidationError("Out of range.") from None
        if not EARLIEST <= moment < LATEST:
            raise ValidationError("Must be between 1970 and 2199.")
        return moment


# The JSON error body of every non-2xx response (shared.errors), for OpenAPI.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
                "request_id": {"type": ["string", "null"]},
            },
        }
    },
}


def column_field(column_type: sa.types.TypeEngine[Any], **options: Any) -> fields.Field:
    """The API field a column of ``column_type`` is answered with."""
    match column_type:
        case sa.DateTime(timezone=True):
            return UTCDateTime(**options)
        case sa.DateTime():
            # A time with no offset, as it was given (a camera's clock, say).
            return fields.NaiveDateTime(**options)
        case sa.Numeric():
            # Money, litres and the like travel as decimal strings: floats would round them.
            return fields.Decimal(as_string=True, **options)
        case sa.ARRAY():
            return List(column_field(column_type.item_type), **options)
        case sa.Uuid():
            return UUID(**options)
        case sa.Date():
            return Date(**options)
        case sa.Boolean():
            return Boolean(**options)
        case sa.Integer():
            return Integer(**options)
        case sa.String():
            return String(**options)
    raise TypeError(f"no API field for a {column_type!r} column")


class _ModelSchemaMeta(SchemaMeta):
    @classmethod
    def get_declared_fields(
        mcs,
        klass: SchemaMeta,
        cls_fields: list[tuple[str, fields.Field]],
        inherited_fields: list[tuple[str, fields.Field]],
        dict_cls: type[dict[str, fields.Field]] = dict,
    ) -> dict[str, fields.Field]:
        declared = super().get_declared_fields(klass, cls_fields, inherited_fields, dict_cls)
        model = getattr(klass.Meta, "model", None)
        if model is None:
            return declared
        columns = {}
        for attribute in sa.inspect(model).column_attrs:
            column = attribute.columns[0]
            if isinstance(column, sa.Column):  # not an expression (a column_property)
                columns[attribute.key] = column_field(
                    column.type, required=not column.nullable, allow_none=bool(column.nullable)
                )
        return dict_cls({**columns, **declared})


class ModelSchema(Schema, metaclass=_ModelSchemaMeta):
    """An answer that is a row: a field per column of ``Meta.model``, in the model's order.

    A column is required unless nullable, and null only if nullable, as in the
    table. Fields declared on the class add to them or, by the same name,
    replace them (a description, a computed value); ``Meta.exclude`` leaves
    columns out (what callers must never see).
    """


class PageQuery(Schema):
    limit = Integer(load_default=DEFAULT_LIMIT, validate=Range(1, MAX_LIMIT))
    cursor = String(load_default=None)


@functools.cache
def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The ``{"items": [...], "next_cursor": ...}`` schema of a list of ``item_schema``.

    One class per item schema, however often asked for: OpenAPI names it once.
    """
    page = Schema.from_dict(
        {
            "items": List(Nested(item_schema), required=True),
            "next_cursor": String(required=True, allow_none=True),
        },
        name=f"{item_schema.__name__.removesuffix('Out')}Page",
    )
    # from_dict subclasses the class it is called on (APIFlask's Schema here),
    # but marshmallow annotates it as returning its own Schema class.
    return cast(type[Schema], page)


def decimal_between(minimum: Decimal, maximum: Decimal) -> Callable[[Decimal], None]:
    """A range check for Decimal fields.

    marshmallow's Range would do, but apispec copies its bounds through the
    field's serializer, so a string-serialized Decimal would put string bounds
    in the OpenAPI document (which is then invalid).
    """

    def check(value: Decimal) -> None:
        if not minimum <= value <= maximum:
            raise ValidationError(f"Must be between {minimum} and {maximum}.")

    return check
