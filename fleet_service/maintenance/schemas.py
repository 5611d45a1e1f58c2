"""Request and response shapes of the maintenance API."""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask.fields import UUID, Integer, String
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, validates_schema

from fleet_service.fields import MAX_KM, confirm_field, media_ids_field, money_field, odometer_field
from fleet_service.maintenance.models import (
    DUE_SOON_DAYS,
    DUE_SOON_KM,
    DUE_STATUSES,
    MaintenanceRecord,
    MaintenanceSchedule,
)
from shared.schemas import Body, ModelSchema, Trimmed, UTCDateTime, present


class ScheduleCreateIn(Body):
    vehicle_id = UUID(required=True)
    name = Trimmed(required=True, validate=Length(1, 120))
    every_km = Integer(load_default=None, allow_none=True, validate=Range(1, MAX_KM))
    every_days = Integer(load_default=None, allow_none=True, validate=Range(1, 3660))
    # every_km or every_days: as if/then, not anyOf (shared.schemas.present says why).
    json_schema: ClassVar = {
        "if": {"not": present("every_km", "integer")},
        "then": present("every_days", "integer"),
    }

    @validates_schema
    def has_an_interval(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("every_km") is None and data.get("every_days") is None:
            raise ValidationError("every_km or every_days (or both) is required", "every_km")


class ScheduleOut(ModelSchema):
    class Meta:
        model = MaintenanceSchedule

    last_done_at = UTCDateTime(allow_none=True)
    current_km = Integer(allow_none=True, metadata={"description": "The vehicle's odometer"})
    due_at = UTCDateTime(allow_none=True)
    due_km = Integer(allow_none=True)
    status = String(
        required=True,
        validate=OneOf(DUE_STATUSES),
        metadata={
            "description": f"due_soon within {DUE_SOON_KM} km or {DUE_SOON_DAYS} days of being "
            "due, overdue past it (whichever of km or date comes first)"
        },
    )


class RecordCreateIn(Body):
    vehicle_id = UUID(required=True)
    schedule_id = UUID(load_default=None, allow_none=True)
    performed_at = UTCDateTime(load_default=None, metadata={"description": "Now when absent"})
    odometer_km = odometer_field()
    cost = money_field()
    vendor = Trimmed(load_default=None, allow_none=True, validate=Length(1, 120))
    notes = Trimmed(load_default=None, allow_none=True, validate=Length(max=2000))
    media_ids = media_ids_field()
    confirm = confirm_field()


class RecordOut(ModelSchema):
    class Meta:
        model = MaintenanceRecord
