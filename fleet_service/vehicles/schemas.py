"""Request and response shapes of the vehicles API."""

from __future__ import annotations

from datetime import date

from apiflask import Schema
from apiflask.fields import UUID, Decimal, Integer, List, String
from apiflask.validators import Length, OneOf, Range

from fleet_service.vehicles.models import FUEL_TYPES, STATUSES
from shared.schemas import PageQuery, UTCDateTime, page_of

MIN_YEAR = 1950


def max_model_year() -> int:
    # Manufacturers sell next year's model from mid-year on.
    return date.today().year + 1


class VehicleCreateIn(Schema):
    plate = String(required=True, validate=Length(1, 16))
    vin = String(load_default=None, allow_none=True, validate=Length(1, 32))
    make = String(required=True, validate=Length(1, 60))
    model = String(required=True, validate=Length(1, 60))
    year = Integer(required=True, validate=Range(MIN_YEAR, 2100))
    fuel_types = List(String(validate=OneOf(FUEL_TYPES)), required=True, validate=Length(1, 5))
    tank_capacity_l = Decimal(
        load_default=None, allow_none=True, places=1, validate=Range(1, 2000), as_string=True
    )
    status = String(load_default="active", validate=OneOf(STATUSES))


class VehicleOut(Schema):
    id = UUID(required=True)
    plate = String(required=True)
    vin = String(allow_none=True)
    make = String(required=True)
    model = String(required=True)
    year = Integer(required=True)
    fuel_types = List(String(), required=True)
    tank_capacity_l = Decimal(allow_none=True, as_string=True)
    status = String(required=True)
    created_at = UTCDateTime(required=True)


class VehicleListQuery(PageQuery):
    status = String(load_default=None, validate=OneOf(STATUSES))
    q = String(load_default=None, validate=Length(1, 60))


VehiclePageOut = page_of(VehicleOut)
