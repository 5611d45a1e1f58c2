"""Request and response shapes of the odometer ledger API."""

from __future__ import annotations

from apiflask.validators import Length

from fleet_service.fields import confirm_field, odometer_field
from fleet_service.odometer.models import OdometerReading
from shared.schemas import Body, ModelSchema, Trimmed, UTCDateTime


class ReadingCreateIn(Body):
    km = odometer_field()
    read_at = UTCDateTime(load_default=None, metadata={"description": "Now when absent"})
    confirm = confirm_field()


class ReadingVoidIn(Body):
    reason = Trimmed(required=True, validate=Length(1, 200))


class ReadingOut(ModelSchema):
    class Meta:
        model = OdometerReading
