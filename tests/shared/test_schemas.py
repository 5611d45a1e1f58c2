"""The shared field types refuse what PostgreSQL cannot store, naming the field;
a model's answer has the table's columns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from apiflask import Schema
from apiflask.fields import String
from apiflask.validators import Length
from marshmallow import ValidationError
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

from shared.schemas import ModelSchema, Name, Text, Trimmed, column_field


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


def test_length_limits_count_the_trimmed_text():
    assert StopIn().load({"station": " " * 10 + "x" * 20 + " " * 10})["station"] == "x" * 20


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
    # Required unless nullable, null only if nullable: as the table says.
    assert {name: (f.required, f.allow_none) for name, f in fields.items()} == {
        "id": (True, False),
        "name": (True, False),
        "price": (True, False),
        "seen_at": (False, True),
        "taken_at": (False, True),
        "parts": (True, False),
    }


def test_a_column_of_a_type_with_no_api_field_is_refused_when_the_schema_is_made():
    with pytest.raises(TypeError, match="no API field"):
        column_field(sa.LargeBinary())
