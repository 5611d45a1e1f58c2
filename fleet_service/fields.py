"""Request fields several fleet domains read the same way: odometer values, money, files."""

from __future__ import annotations

from decimal import Decimal

from apiflask.fields import UUID, Boolean, Integer, List
from apiflask.validators import Length, Range

from shared.schemas import DecimalString

# Seven digits: what a vehicle's odometer shows.
MAX_KM = 9_999_999
MAX_MONEY = Decimal("9999999999.99")
MAX_ATTACHMENTS = 20


def odometer_field() -> Integer:
    """The odometer's reading in km, a whole number."""
    return Integer(required=True, validate=Range(0, MAX_KM))


def confirm_field() -> Boolean:
    return Boolean(
        load_default=False,
        metadata={"description": "Accept an odometer jump the plausibility check would refuse"},
    )


def media_ids_field() -> List:
    """Files (media ids) attached to a record, each once."""
    return List(UUID(), load_default=list, validate=Length(max=MAX_ATTACHMENTS))


def money_field() -> DecimalString:
    """An amount of money to the cent."""
    return DecimalString(required=True, places=2, between=(Decimal(0), MAX_MONEY))
