"""Request and response shapes of the odometer ledger API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Boolean, Integer, String
from apiflask.validators import Length, Range

from shared.schemas import PageQuery, Trimmed, UTCDateTime

MAX_KM = 9_999_999


class ReadingCreateIn(Schema):
    km = Integer(required=True, strict=True, validate=Range(0, MAX_KM))
    read_at = UTCDateTime(load_default=None, metadata={"description": "Now when absent"})
    confirm = Boolean(
        load_default=False,
        metadata={"description": "Accept a jump the plausibility check would refuse"},
    )


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


class ReadingListQuery(PageQuery):
    include_voided = Boolean(load_default=False)
