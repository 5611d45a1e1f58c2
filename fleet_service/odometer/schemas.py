"""Request and response shapes of the odometer ledger API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Integer, String
from apiflask.validators import Length

from fleet_service.fields import confirm_field, odometer_field
from shared.schemas import Trimmed, UTCDateTime


class ReadingCreateIn(Schema):
    km = odometer_field()
    read_at = UTCDateTime(load_default=None, metadata={"description": "Now when absent"})
    confirm = confirm_field()


class ReadingVoidIn(Schema):
    reason = Trimmed(required=True, validate=Length(1, 200))


class ReadingOut(Schema):
    id = UUID(required=True)
    vehicle_id = UUID(required=True)
    km = Integer(required=True)
    read_at = UTCDateTime(required=True)
    source = String(required=True)
    author_user_id = UUID(required=True)
    created_at = UTCDateTime(required=True)
    voided_at = UTCDateTime(allow_none=True)
    void_reason = String(allow_none=True)
    voided_by_user_id = UUID(allow_none=True)
