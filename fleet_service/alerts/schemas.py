"""Response shapes of the alerts API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Date, Integer, List, Nested, String
from apiflask.validators import OneOf, Range

from fleet_service.alerts.service import DEFAULT_WITHIN_DAYS, KINDS, STATUSES
from shared.schemas import Query, UTCDateTime


class AlertQuery(Query):
    within_days = Integer(
        load_default=DEFAULT_WITHIN_DAYS,
        validate=Range(0, 366),
        metadata={"description": "Documents and licenses expiring within this many days"},
    )


class AlertOut(Schema):
    kind = String(required=True, validate=OneOf(KINDS))
    status = String(required=True, validate=OneOf(STATUSES))
    title = String(required=True)
    subject_id = UUID(
        required=True,
        metadata={"description": "The inspection, schedule, document or driver alerted on"},
    )
    vehicle_id = UUID(allow_none=True)
    driver_id = UUID(allow_none=True)
    severity = String(allow_none=True, metadata={"description": "Of a failed inspection"})
    due_at = UTCDateTime(
        allow_none=True, metadata={"description": "Maintenance due date; inspection time"}
    )
    due_km = Integer(allow_none=True)
    current_km = Integer(allow_none=True)
    due_on = Date(allow_none=True, metadata={"description": "Expiry of a document or license"})
    plate = String(allow_none=True, metadata={"description": "The vehicle's plate"})
    driver_name = String(allow_none=True, metadata={"description": "The driver's full name"})


class AlertsOut(Schema):
    items = List(Nested(AlertOut), required=True)
