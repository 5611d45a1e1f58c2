"""Field types and schema helpers that every service's API uses the same way."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from apiflask import Schema
from apiflask.fields import UUID, Boolean, Date, Integer, List, Nested, String
from apiflask.validators import Length, Range
from marshmallow import ValidationError, fields, pre_load
from marshmallow.schema import SchemaMeta

from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT

# Nothing Frota records happened before 1970 or is planned after 2199; outside
# that range a time is a typo (or an attempt to overflow something). The year
# as written counts, so that the OpenAPI document can state the rule as a pattern.
YEARS = range(1970, 2200)
YEAR_PATTERN = "^(19[7-9][0-9]|2[01][0-9][0-9])-"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _char_class(*ranges: tuple[int, int]) -> str:
    """A regex character class's inside, written with escapes as both Python's re and
    the OpenAPI document's ECMA 262 read them (``\\s`` differs between the two)."""
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


# What str.strip() strips (str.isspace), spelled out so the document can say it.
_WHITESPACE_RANGES = (
    (0x09, 0x0D),
    (0x1C, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
_WHITESPACE = _char_class(*_WHITESPACE_RANGES)
_NUL = _char_class((0x00, 0x00))
_WHITESPACE_CHARS = "".join(
    chr(c) for low, high in _WHITESPACE_RANGES for c in range(low, high + 1)
)


class Text(String):
    """A string PostgreSQL can store: no NUL characters (text columns cannot hold
    them) and no lone UTF-16 surrogates (not characters; the driver cannot encode them).

    shared.json_body refuses surrogates in JSON bodies already; this names the
    field wherever else a string comes from.
    """

    # What the text must not contain, as a character class (for the document's pattern).
    excluded = _NUL

    @property
    def pattern(self) -> str:
        return f"^[^{self.excluded}]*$"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        if _SURROGATE.search(text):
            raise ValidationError("Must not contain lone surrogates (not characters).")
        return text


class Trimmed(Text):
    """Free text as it is stored: without surrounding whitespace, and null rather than
    blank where the field may be null. The minimum length applies to the trimmed text,
    so a blank required field is refused; the maximum to the text as sent. (Passwords
    and tokens are plain ``Text``: every character of theirs counts.)"""

    @property
    def blank_is_null(self) -> bool:
        return bool(self.allow_none)

    @functools.cached_property
    def max_length(self) -> int | None:
        """The tightest maximum of the field's Length checks (fixed once it is made)."""
        maxima = [check.max for check in self.validators if isinstance(check, Length)]
        return min((m for m in maxima if m is not None), default=None)

    @property
    def pattern(self) -> str:
        """Blank text is null where null is allowed; elsewhere, with a minimum length,
        it is refused: the pattern says so."""
        excluded = self.excluded
        if self.blank_is_null or not any(
            isinstance(check, Length) and (check.min or 0) >= 1 for check in self.validators
        ):
            return super().pattern
        return f"^[^{excluded}]*[^{_WHITESPACE}{excluded}][^{excluded}]*$"

    def deserialize(self, value: Any, attr: Any = None, data: Any = None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            # The document's maxLength counts the text as sent, whitespace included.
            if self.max_length is not None and len(value) > self.max_length:
                raise ValidationError(f"Longer than maximum length {self.max_length}.")
            value = value.strip(_WHITESPACE_CHARS)
            if not value and self.blank_is_null:
                value = None
        return super().deserialize(value, attr, data, **kwargs)


# What would make a name read as something it is not: control characters (line
# breaks included), bidi controls that reorder what follows (U+202E shows
# "evil\u202eexe.pdf" as "evilfdp.exe"), and invisible characters that make two
# names look alike. ZWJ/ZWNJ stay: Persian and Indic names need them.
_MISLEADING = _char_class(
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x61C, 0x61C),
    (0x180E, 0x180E),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x2069),
    (0xFEFF, 0xFEFF),
)
_MISLEADING_IN_NAMES = re.compile(f"[{_MISLEADING}]")


class Name(Trimmed):
    """A name a person reads as an identity (a user's or a driver's full name): one
    line, without bidi controls or invisible characters."""

    excluded = _MISLEADING

    def deserialize(self, value: Any, attr: Any = None, data: Any = None, **kwargs: Any) -> Any:
        # Before trimming: a line break or a bidi control at either end is refused too.
        found = _MISLEADING_IN_NAMES.search(value) if isinstance(value, str) else None
        if found:
            raise ValidationError(
                f"Must not contain control, bidi or invisible characters "
                f"(found U+{ord(found.group()):04X})."
            )
        return super().deserialize(value, attr, data, **kwargs)


_SEPARATOR = f"[^A-Za-z0-9{_NUL}]"


class Code(Trimmed):
    """An identifier as people write it (a plate, a license number, a VIN): ASCII
    letters of either case and digits, in the form ``characters{low,high}`` (a
    character class over upper-case letters and digits, and its counts, per part).
    With ``separated``, anything else between them (``-``, ``.``, spaces) is
    dropped. Stored upper-case, without separators.

    The document's pattern is the rule the field checks, on the text as sent
    (trimmed): a client can validate before sending, a fuzzer cannot find a gap.
    """

    def __init__(
        self,
        *parts: tuple[str, int, int],
        message: str,
        separated: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        between = f"{_SEPARATOR}*" if separated else ""
        # Lower-casing a class's inside gives the lower-case ranges ("A-HJ-N" -> "a-hj-n").
        body = "".join(
            f"(?:[{chars[1:-1]}{chars[1:-1].lower()}]{between}){{{low},{high}}}"
            for chars, low, high in parts
        )
        self._code_pattern = f"^[{_WHITESPACE}]*{between}{body}[{_WHITESPACE}]*$"
        self._matches = re.compile(self._code_pattern.removesuffix("$") + r"\Z").match
        self.message = message

    @property
    def pattern(self) -> str:
        if self.blank_is_null:
            return f"^[{_WHITESPACE}]*$|{self._code_pattern}"
        return self._code_pattern

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not self._matches(text):
            raise ValidationError(self.message)
        return re.sub("[^A-Za-z0-9]", "", text).upper()


class UTCDateTime(fields.DateTime):
    """RFC 3339 in UTC with a ``Z``; input must carry an offset (naive times are ambiguous)
    and a year from 1970 to 2199."""

    pattern = YEAR_PATTERN

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
        if parsed.year not in YEARS:
            raise ValidationError("Must be between 1970 and 2199.")
        return parsed.astimezone(UTC)


class Body(Schema):
    """A JSON request body: each value must be of the JSON type the document gives it.

    marshmallow reads ``"5"`` as 5 and ``0`` or ``"yes"`` as true, which suits a
    query string (all text) but would let a body through that the OpenAPI
    document calls invalid, and a typed client would never send. As in JSON
    Schema, ``5.0`` is the integer 5.
    """

    @pre_load
    def of_json_types(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        typed, problems = dict(data), {}
        for name, field in self.fields.items():
            key = field.data_key or name
            value = data.get(key)
            if isinstance(field, fields.Boolean) and value is not None:
                if not isinstance(value, bool):
                    problems[key] = ["Not a valid boolean."]
            elif isinstance(field, fields.Integer) and value is not None:
                if isinstance(value, float) and value.is_integer():
                    typed[key] = int(value)
                elif isinstance(value, bool) or not isinstance(value, int):
                    problems[key] = ["Not a valid integer."]
        if problems:
            raise ValidationError(problems)
        return typed


class DecimalString(fields.Decimal):
    """Money, litres and the like: decimal strings both ways (``"45.50"``), since floats
    would round them. A JSON number is refused, so that a client's typed value is
    never a float. The OpenAPI document says ``type: string, format: decimal`` with
    the pattern, and ``between`` in the description: JSON Schema bounds only numbers.
    """

    def __init__(
        self,
        *,
        between: tuple[Decimal, Decimal] | None = None,
        places: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(places=places, as_string=True, **options)
        self.between = between
        # The pattern bounds what it can: the sign and the digits before the point.
        sign, digits = "-?", "+"
        if between is not None:
            sign = "" if between[0] >= 0 else sign
            digits = f"{{1,{len(str(int(between[1])))}}}"
        self.pattern = rf"^{sign}[0-9]{digits}(\.[0-9]+)?$"
        self._matches = re.compile(self.pattern).match

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or not self._matches(value):
            raise ValidationError('Must be a decimal string, e.g. "45.50".')
        number: Decimal = super()._deserialize(value, attr, data, **kwargs)
        if self.between is not None and not self.between[0] <= number <= self.between[1]:
            raise ValidationError(self.bounds)
        return number

    @property
    def bounds(self) -> str:
        """The bounds in words, for the error and the document."""
        assert self.between is not None
        return f"Must be between {self.between[0]} and {self.between[1]}."


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
            return DecimalString(**options)
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
                columns[attribute.key] = column_field(column.type, allow_none=bool(column.nullable))
        answered = {**columns, **declared}
        # Every field is in every answer (null where nullable): the document says
        # required, so that generated clients type them ``X | None``, not "maybe absent".
        for field in answered.values():
            field.required = True
        return dict_cls(answered)


class ModelSchema(Schema, metaclass=_ModelSchemaMeta):
    """An answer that is a row: a field per column of ``Meta.model``, in the model's order.

    Every field is always answered, null only if its column is nullable, as in
    the table. Fields declared on the class add to them or, by the same name,
    replace them (a description, a computed value); ``Meta.exclude`` leaves
    columns out (what callers must never see).
    """


def present(name: str, json_type: str) -> dict[str, Any]:
    """The JSON Schema of a body in which ``name`` is given, not null: for a schema's
    ``json_schema`` rules that tie fields together.

    Those rules are written with ``if``/``then``/``else`` (and ``not``), which say
    the same as ``anyOf``/``oneOf`` over the whole body: code generators
    (openapi-python-client) read a body-level ``anyOf`` as a union of partial
    models and lose the body's other fields, and they leave ``if`` alone.
    """
    return {"required": [name], "properties": {name: {"type": json_type}}}


class Query(Schema):
    """A query string: each parameter once, unless its field takes a list.

    webargs reads the first of ``?limit=5&limit=500`` and drops the rest, so a
    request the OpenAPI document calls invalid (the parameter is not an array)
    would be answered as if it were another one.
    """

    @pre_load
    def given_once(self, data: Any, **kwargs: Any) -> Any:
        multidict = getattr(data, "data", None)
        if multidict is None or not hasattr(multidict, "getlist"):
            return data
        repeated = {
            key: ["Given more than once; this parameter takes one value."]
            for key in multidict
            if len(multidict.getlist(key)) > 1 and key not in data.multiple_keys
        }
        if repeated:
            raise ValidationError(repeated)
        return data


class PageQuery(Query):
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
