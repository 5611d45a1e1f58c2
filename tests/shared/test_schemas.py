"""The shared field types refuse what PostgreSQL cannot store, naming the field;
a model's answer has the table's columns."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import Schema
from apiflask.fields import Boolean, Integer, String
from apiflask.validators import Length
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

from shared.schemas import (
    YEAR_PATTERN,
    Body,
    Code,
    DecimalString,
    ModelSchema,
    Name,
    Text,
    Trimmed,
    UTCDateTime,
    column_field,
)


class NoteIn(Schema):
    note = Text(required=True)


@pytest.mark.parametrize("value", ["\ud800", "ok\udfffok", "\x00", "a\x00"])
def test_a_text_field_refuses_nul_and_lone_surrogates_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        NoteIn().load({"note": value})

    assert list(caught.value.messages) == ["note"]


@pytest.mark.parametrize("value", ["São Paulo", "😀", "\U0001f600 pair", "ÅÄÖ", ""])
def test_a_text_field_keeps_every_real_character(value):
    assert NoteIn().load({"note": value}) == {"note": value}


class PersonIn(Schema):
    full_name = Name(required=True)


@pytest.mark.parametrize(
    "value",
    [
        "Ana\u202eanoS",  # right-to-left override: reads as "Ana Sona" reversed
        "Ana\u2066Souza\u2069",  # bidi isolate
        "Ana\u200bSouza",  # zero-width space: looks like "AnaSouza"
        "Ana\ufeffSouza",  # zero-width no-break space
        "Ana\u00adSouza",  # soft hyphen, invisible
        "Ana\nSouza",  # a second line
        "Ana\x1bSouza",  # an escape sequence for terminals
    ],
)
def test_a_name_refuses_bidi_invisible_and_control_characters_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        PersonIn().load({"full_name": value})

    assert list(caught.value.messages) == ["full_name"]


@pytest.mark.parametrize(
    "value",
    [
        "Ana Souza",
        "João D'Ávila",
        "\u0645\u062d\u0645\u062f \u0631\u0636\u0627",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "श्री\u200dमान",
        "李小龙",
    ],
)
def test_a_name_keeps_every_script_and_the_joiners_they_need(value):
    assert PersonIn().load({"full_name": value}) == {"full_name": value}


class StopIn(Schema):
    station = Trimmed(required=True, validate=Length(1, 20))
    note = Trimmed(load_default=None, allow_none=True, validate=Length(1, 20))


def test_free_text_is_stored_without_surrounding_whitespace():
    assert StopIn().load({"station": "  Posto Sul \t", "note": " cheio\n"}) == {
        "station": "Posto Sul",
        "note": "cheio",
    }


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_free_text_is_null_where_null_is_allowed_and_refused_where_required(blank):
    assert StopIn().load({"station": "Posto", "note": blank}) == {"station": "Posto", "note": None}
    with pytest.raises(ValidationError) as caught:
        StopIn().load({"station": blank})
    assert list(caught.value.messages) == ["station"]


def test_the_minimum_length_counts_the_trimmed_text_the_maximum_the_text_as_sent():
    # As the document's minLength (with the non-blank pattern) and maxLength say.
    assert StopIn().load({"station": " " * 5 + "x" * 15})["station"] == "x" * 15
    with pytest.raises(ValidationError, match="maximum length 20"):
        StopIn().load({"station": " " * 6 + "x" * 15})


def test_a_password_is_plain_text_and_keeps_its_spaces():
    assert NoteIn().load({"note": " secret "}) == {"note": " secret "}


class _Base(DeclarativeBase):
    pass


class Gadget(_Base):
    __tablename__ = "gadgets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(7, 2))
    seen_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    taken_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=False))
    parts: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(sa.Uuid))
    secret: Mapped[str]
    # An expression, not a column: no field unless the schema declares one.
    name_length: Mapped[int] = column_property(sa.func.length(name))


class GadgetOut(ModelSchema):
    class Meta:
        model = Gadget
        exclude = ("secret",)

    name = String(required=True, metadata={"description": "Declared: replaces the column's"})


def test_a_model_schema_answers_each_column_as_the_table_has_it():
    gadget = Gadget(
        id=uuid.UUID(int=1),
        name="Caneta",
        price=Decimal("3.50"),
        seen_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
        taken_at=datetime(2026, 5, 1, 9, 30),
        parts=[uuid.UUID(int=2)],
        secret="never answered",
    )

    assert GadgetOut().dump(gadget) == {
        "id": "00000000-0000-0000-0000-000000000001",
        "name": "Caneta",
        "price": "3.50",
        "seen_at": "2026-05-01T12:00:00Z",
        "taken_at": "2026-05-01T09:30:00",
        "parts": ["00000000-0000-0000-0000-000000000002"],
    }
    fields = GadgetOut().fields
    assert list(fields) == ["id", "name", "price", "seen_at", "taken_at", "parts"]
    assert fields["name"].metadata["description"].startswith("Declared")
    # Always answered (required), null only if nullable: as the table says.
    assert {name: (f.required, f.allow_none) for name, f in fields.items()} == {
        "id": (True, False),
        "name": (True, False),
        "price": (True, False),
        "seen_at": (True, True),
        "taken_at": (True, True),
        "parts": (True, False),
    }
    # A row with nulls answers them as null, not by leaving them out.
    assert (
        GadgetOut().dump(Gadget(id=uuid.UUID(int=1), name="x", price=1, parts=[]))["seen_at"]
        is None
    )


def test_a_column_of_a_type_with_no_api_field_is_refused_when_the_schema_is_made():
    with pytest.raises(TypeError, match="no API field"):
        column_field(sa.LargeBinary())


# What the OpenAPI document says of a field is what the field does.


class MoneyIn(Body):
    amount = DecimalString(required=True, places=2, between=(Decimal(0), Decimal("999.99")))


@pytest.mark.parametrize("value", [45.5, 45, "45,50", "4.5e1", "NaN", "-1", " 1", "1000"])
def test_a_decimal_is_a_decimal_string_within_its_bounds(value):
    with pytest.raises(ValidationError) as caught:
        MoneyIn().load({"amount": value})

    assert list(caught.value.messages) == ["amount"]


def test_a_decimal_string_is_read_exactly_and_answered_as_a_string():
    assert MoneyIn().load({"amount": "0.10"}) == {"amount": Decimal("0.10")}
    assert MoneyIn().dump({"amount": Decimal("7.5")}) == {"amount": "7.50"}


class FlagsIn(Body):
    count = Integer(required=True)
    sure = Boolean(required=True)


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"count": "5", "sure": True}, "count"),
        ({"count": 5.5, "sure": True}, "count"),
        ({"count": True, "sure": True}, "count"),
        ({"count": 5, "sure": 0}, "sure"),
        ({"count": 5, "sure": "yes"}, "sure"),
    ],
)
def test_a_body_value_must_be_of_its_json_type(body, refused):
    with pytest.raises(ValidationError) as caught:
        FlagsIn().load(body)

    assert list(caught.value.messages) == [refused]


def test_a_whole_number_written_with_a_point_is_an_integer_as_in_json_schema():
    assert FlagsIn().load({"count": 5.0, "sure": False}) == {"count": 5, "sure": False}


def test_a_time_counts_the_year_as_written():
    field = UTCDateTime()
    # 1969 in UTC, but written in 1970: the pattern a client sees decides.
    assert field.deserialize("1970-01-01T00:30:00+01:00").year == 1969
    with pytest.raises(ValidationError):
        field.deserialize("2200-01-01T00:00:00-01:00")


def ecma_search(pattern: str, value: str) -> bool:
    """The pattern as JSON Schema applies it (ECMA 262): Python's re reads these patterns'
    escapes the same, but its ``$`` also matches before a final line break."""
    return re.search(pattern.replace("$", r"\Z"), value) is not None


def loads(field: Any, value: str) -> bool:
    try:
        field.deserialize(value)
    except ValidationError:
        return False
    return True


# Characters the rules are about, among ordinary ones, so that examples hit them.
TRICKY = st.text(
    alphabet=st.sampled_from(
        ["a", "Z", "9", " ", "\t", "\n", "\x00", "\x1f", "\u202e", "\u200b", "\ufeff", "é", "."]
    ),
    max_size=6,
)


@pytest.mark.parametrize(
    "field",
    [
        Text(required=True),
        Trimmed(required=True, validate=Length(1, 50)),
        Trimmed(allow_none=True, load_default=None, validate=Length(1, 50)),
        Name(required=True, validate=Length(1, 50)),
        DecimalString(between=(Decimal("0.001"), Decimal(2000))),
        Code(("[A-Z]", 1, 2), ("[0-9]", 1, 1), message="a plate", required=True),
        Code(("[A-HJ-NPR-Z0-9]", 3, 3), separated=False, message="a VIN", allow_none=True),
    ],
    ids=["text", "required-trimmed", "nullable-trimmed", "name", "decimal", "code", "vin"],
)
@settings(max_examples=300, deadline=None)
@given(
    value=TRICKY
    | st.from_regex(r"-?[0-9]{1,5}(\.[0-9]{1,3})?", fullmatch=True)
    | st.from_regex(r" ?[A-Za-zIOoé]{0,3}[-. ]?[0-9]{0,2}ß?", fullmatch=True)
)
def test_a_documented_pattern_admits_what_the_field_admits(field, value):
    matches = ecma_search(field.pattern, value)
    if isinstance(field, DecimalString):
        # The bounds are in the description, not the pattern: the pattern is necessary.
        assert matches or not loads(field, value)
    else:
        assert matches == loads(field, value), (field.pattern, value)


@settings(max_examples=200, deadline=None)
@given(year=st.integers(1, 9999), offset=st.sampled_from(["Z", "+14:00", "-12:00"]))
def test_the_documented_year_pattern_is_the_time_fields_rule(year, offset):
    value = f"{year:04d}-06-15T12:00:00{offset}"
    assert ecma_search(YEAR_PATTERN, value) == loads(UTCDateTime(), value)


def test_a_code_is_stored_upper_case_without_its_separators():
    plate = Code(("[A-Z]", 3, 3), ("[0-9]", 4, 4), message="a plate", required=True)

    assert plate.deserialize(" abc-12.34 ") == "ABC1234"
    for wrong in ["ab-1234", "abc12345", "ABC12é34x", "ÅBC1234"]:
        with pytest.raises(ValidationError, match="a plate"):
            plate.deserialize(wrong)


def test_a_code_without_separators_refuses_them_and_what_upper_case_would_make_valid():
    vin = Code(("[A-HJ-NPR-Z0-9]", 3, 3), separated=False, message="a VIN", allow_none=True)

    assert vin.deserialize("ab1") == "AB1"
    assert vin.deserialize("  ") is None
    # "ß".upper() is "SS": the text as sent is what the rule is about.
    for wrong in ["a-b1", "io1", "ßA"]:
        with pytest.raises(ValidationError, match="a VIN"):
            vin.deserialize(wrong)
