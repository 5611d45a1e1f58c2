"""Request and response shapes of the vehicles API."""

from __future__ import annotations

import decimal
from typing import Any

from apiflask.fields import Integer, List, String
from apiflask.validators import Length, OneOf, Range

from fleet_service.vehicles.models import FUEL_TYPES, STATUSES, Vehicle
from shared.schemas import Body, Code, DecimalString, ModelSchema, Trimmed

MIN_YEAR = 1950
TANK_CAPACITY_RANGE = (decimal.Decimal(1), decimal.Decimal(2000))


def plate(**options: Any) -> Code:
    # Every deployment's plates; PLATE_FORMAT=br (the default) also checks the
    # Brazilian forms, which the document cannot know.
    return Code(
        ("[A-Z0-9]", 2, 10),
        message="must be 2 to 10 letters or digits",
        validate=Length(1, 16),
        metadata={
            "description": "Letters and digits, separators dropped; with PLATE_FORMAT=br "
            "(the default) ABC1234 or Mercosul ABC1D23, else 2 to 10 (422 otherwise)"
        },
        **options,
    )


def vin(**options: Any) -> Code:
    # 17 characters; I, O and Q are never used in VINs (confusable with 1 and 0).
    return Code(
        ("[A-HJ-NPR-Z0-9]", 17, 17),
        separated=False,
        message="must be 17 letters or digits, without I, O or Q",
        allow_none=True,
        **options,
    )


class VehicleCreateIn(Body):
    plate = plate(required=True)
    vin = vin(load_default=None)
    make = Trimmed(required=True, validate=Length(1, 60))
    model = Trimmed(required=True, validate=Length(1, 60))
    year = Integer(required=True, validate=Range(MIN_YEAR, 2100))
    # A set: a flex vehicle takes ["gasoline", "ethanol"].
    fuel_types = List(String(validate=OneOf(FUEL_TYPES)), required=True, validate=Length(1, 5))
    tank_capacity_l = DecimalString(
        load_default=None, allow_none=True, places=1, between=TANK_CAPACITY_RANGE
    )
    status = String(load_default="active", validate=OneOf(STATUSES))


class VehicleUpdateIn(Body):
    """Only the fields sent change; ``vin`` and ``tank_capacity_l`` may be cleared with null."""

    plate = plate()
    vin = vin()
    make = Trimmed(validate=Length(1, 60))
    model = Trimmed(validate=Length(1, 60))
    year = Integer(validate=Range(MIN_YEAR, 2100))
    fuel_types = List(String(validate=OneOf(FUEL_TYPES)), validate=Length(1, 5))
    tank_capacity_l = DecimalString(allow_none=True, places=1, between=TANK_CAPACITY_RANGE)
    status = String(validate=OneOf(STATUSES))


class VehicleOut(ModelSchema):
    class Meta:
        model = Vehicle

    odometer_km = Integer(
        allow_none=True, metadata={"description": "Latest reading of the odometer ledger"}
    )
