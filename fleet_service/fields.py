"""Request fields several fleet domains read the same way: odometer values, money, files."""

from __future__ import annotations

from decimal import Decimal

from apiflask.fields import UUID, Boolean, Integer, List
from apiflask.fields import Decimal as DecimalField
from apiflask.validators import Length, Range

from shared.schemas import decimal_between

# Seven digits: what a vehicle's odometer shows.
MAX_KM = 9_999_999
MAX_MONEY = Decimal("9999999999.99")
MAX_ATTACHMENTS = 20


def odometer_field() -> Integer:
    """The odometer's reading in km, a whole number (a string or a float is refused)."""
    return Integer(required=True, strict=True, validate=Range(0, MAX_KM))


def confirm_field() -> Boolean:
    return Boolean(
        load_default=False,
        metadata={"description": "Accept an odometer jump the plausibility check would refuse"},
    )


def media_ids_field() -> List:
    """Files (media ids) attached to a record, each once."""
    return List(UUID(), load_default=list, validate=Length(max=MAX_ATTACHMENTS))


def money_field() -> DecimalField:
    """An amount of money to the cent, as a decimal string (floats would round it)."""
    return DecimalField(
        required=True, places=2, as_string=True, validate=decimal_between(Decimal(0), MAX_MONEY)
    )
