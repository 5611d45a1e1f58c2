"""Request and response shapes of the assignments API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Boolean

from shared.schemas import PageQuery, UTCDateTime


class AssignmentCreateIn(Schema):
    vehicle_id = UUID(required=True)
    driver_id = UUID(required=True)
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(
        load_default=None, allow_none=True, metadata={"description": "Open-ended when absent"}
    )


class AssignmentEndIn(Schema):
    ends_at = UTCDateTime(load_default=None, metadata={"description": "Now when absent"})


class AssignmentOut(Schema):
    id = UUID(required=True)
    vehicle_id = UUID(required=True)
    driver_id = UUID(required=True)
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(allow_none=True)
    created_at = UTCDateTime(required=True)


class AssignmentListQuery(PageQuery):
    vehicle_id = UUID(load_default=None)
    driver_id = UUID(load_default=None)
    active = Boolean(load_default=None, metadata={"description": "Covering the present moment"})
