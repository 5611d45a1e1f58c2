"""Request and response shapes of the trips API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Integer, String
from apiflask.validators import Length

from fleet_service.fields import confirm_field, odometer_field
from shared.schemas import Trimmed, UTCDateTime


class TripCheckOutIn(Schema):
    vehicle_id = UUID(required=True)
    odometer_km = odometer_field()
    purpose = Trimmed(required=True, validate=Length(1, 200))
    driver_id = UUID(
        load_default=None,
        metadata={"description": "Managers check out on behalf of this driver"},
    )
    confirm = confirm_field()


class TripCheckInIn(Schema):
    odometer_km = odometer_field()
    confirm = confirm_field()


class TripOut(Schema):
    id = UUID(required=True)
    vehicle_id = UUID(required=True)
    driver_id = UUID(required=True)
    purpose = String(required=True)
    started_at = UTCDateTime(required=True)
    start_km = Integer(required=True)
    start_reading_id = UUID(required=True)
    ended_at = UTCDateTime(allow_none=True)
    end_km = Integer(allow_none=True)
    end_reading_id = UUID(allow_none=True)
    distance_km = Integer(allow_none=True)
