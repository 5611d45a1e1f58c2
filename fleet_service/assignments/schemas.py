"""Request and response shapes of the assignments API."""

from __future__ import annotations

from apiflask.fields import UUID

from fleet_service.assignments.models import Assignment
from shared.schemas import Body, ModelSchema, UTCDateTime


class AssignmentCreateIn(Body):
    vehicle_id = UUID(required=True)
    driver_id = UUID(required=True)
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(
        load_default=None, allow_none=True, metadata={"description": "Open-ended when absent"}
    )


class AssignmentEndIn(Body):
    ends_at = UTCDateTime(load_default=None, metadata={"description": "Now when absent"})


class AssignmentOut(ModelSchema):
    class Meta:
        model = Assignment
