"""The shared field types refuse what PostgreSQL cannot store, naming the field."""

from __future__ import annotations

import pytest
from apiflask import Schema
from apiflask.validators import Length
from marshmallow import ValidationError

from shared.schemas import Name, Text, Trimmed


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
