"""Request and response shapes of the trips API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Boolean, Integer, String
from apiflask.validators import Length, Range

from fleet_service.odometer.schemas import MAX_KM
from shared.csv_export import format_field
from shared.schemas import PageQuery, Trimmed, UTCDateTime


def confirm_field() -> Boolean:
    return Boolean(
        load_default=False,
        metadata={"description": "Accept an odometer jump the plausibility check would refuse"},
    )


class TripCheckOutIn(Schema):
    vehicle_id = UUID(required=True)
    odometer_km = Integer(required=True, strict=True, validate=Range(0, MAX_KM))
    purpose = Trimmed(required=True, validate=Length(1, 200))
    driver_id = UUID(
        load_default=None,
        metadata={"description": "Managers check out on behalf of this driver"},
    )
    confirm = confirm_field()


class TripCheckInIn(Schema):
    odometer_km = Integer(required=True, strict=True, validate=Range(0, MAX_KM))
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


class TripListQuery(PageQuery):
    vehicle_id = UUID(load_default=None)
    driver_id = UUID(load_default=None)
    started_from = UTCDateTime(
        data_key="from", load_default=None, metadata={"description": "Started at or after"}
    )
    started_before = UTCDateTime(
        data_key="to", load_default=None, metadata={"description": "Started before"}
    )
    open = Boolean(load_default=None, metadata={"description": "Not yet checked in"})
    format = format_field()
