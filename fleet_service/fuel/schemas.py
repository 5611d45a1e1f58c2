"""Request and response shapes of the fuel logs API."""

from __future__ import annotations

from decimal import Decimal as D

from apiflask.fields import UUID, Boolean, String
from apiflask.validators import Length, OneOf

from fleet_service.fields import confirm_field, money_field, odometer_field
from fleet_service.fuel.models import FuelLog
from fleet_service.vehicles.models import FUEL_TYPES
from shared.schemas import Body, DecimalString, ModelSchema, Trimmed, UTCDateTime

# The biggest trucks carry two 1000 L tanks; anything above is a typo.
LITERS_RANGE = (D("0.001"), D("2000"))


class FuelLogCreateIn(Body):
    vehicle_id = UUID(required=True)
    filled_at = UTCDateTime(load_default=None, metadata={"description": "Now when absent"})
    odometer_km = odometer_field()
    fuel_type = String(required=True, validate=OneOf(FUEL_TYPES))
    liters = DecimalString(required=True, places=3, between=LITERS_RANGE)
    total_cost = money_field()
    unit_price = DecimalString(
        load_default=None,
        allow_none=True,
        places=3,
        between=(D(0), D("99999.999")),
        metadata={"description": "Checked against total_cost / liters (within 0.01) when given"},
    )
    full_tank = Boolean(required=True)
    missed_previous = Boolean(
        load_default=False,
        metadata={"description": "The previous fill was not logged (consumption skips this one)"},
    )
    station = Trimmed(load_default=None, allow_none=True, validate=Length(1, 120))
    receipt_media_id = UUID(load_default=None, allow_none=True)
    confirm = confirm_field()


class FuelLogOut(ModelSchema):
    class Meta:
        model = FuelLog

    unit_price = DecimalString(
        required=True, metadata={"description": "total_cost / liters, 3 places"}
    )
