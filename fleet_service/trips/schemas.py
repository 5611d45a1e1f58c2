"""Request and response shapes of the trips API."""

from __future__ import annotations

from apiflask.fields import UUID, Integer, String
from apiflask.validators import Length

from fleet_service.fields import confirm_field, odometer_field
from fleet_service.trips.models import Trip
from shared.schemas import Body, ModelSchema, Trimmed


class TripCheckOutIn(Body):
    vehicle_id = UUID(required=True)
    odometer_km = odometer_field()
    purpose = Trimmed(required=True, validate=Length(1, 200))
    driver_id = UUID(
        load_default=None,
        metadata={"description": "Managers check out on behalf of this driver"},
    )
    confirm = confirm_field()


class TripCheckInIn(Body):
    odometer_km = odometer_field()
    confirm = confirm_field()


class TripOut(ModelSchema):
    class Meta:
        model = Trip

    distance_km = Integer(allow_none=True)
    vehicle_plate = String(
        required=True, metadata={"description": "The vehicle's plate (also once retired)"}
    )
