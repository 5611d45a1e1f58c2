"""The shared field types refuse what PostgreSQL cannot store, naming the field."""

from __future__ import annotations

import pytest
from apiflask import Schema
from marshmallow import ValidationError

from shared.schemas import Text


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
