"""Request and response shapes of the vehicles API."""

from __future__ import annotations

import decimal

from apiflask.fields import Integer, List, String
from apiflask.validators import Length, OneOf, Range

from fleet_service.vehicles.models import FUEL_TYPES, STATUSES, Vehicle
from shared.schemas import Body, DecimalString, ModelSchema, Trimmed

MIN_YEAR = 1950
TANK_CAPACITY_RANGE = (decimal.Decimal(1), decimal.Decimal(2000))


class VehicleCreateIn(Body):
    plate = Trimmed(required=True, validate=Length(1, 16))
    vin = Trimmed(load_default=None, allow_none=True, validate=Length(1, 32))
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

    plate = Trimmed(validate=Length(1, 16))
    vin = Trimmed(allow_none=True, validate=Length(1, 32))
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
