"""Request and response shapes of the drivers API."""

from __future__ import annotations

from apiflask.fields import UUID, Date, String
from apiflask.validators import Length, OneOf

from fleet_service.drivers.models import LICENSE_CATEGORIES, Driver
from shared.schemas import Body, ModelSchema, Name, Trimmed


class DriverCreateIn(Body):
    user_id = UUID(required=True, metadata={"description": "The driver's user (auth service)"})
    full_name = Name(
        load_default=None,
        validate=Length(1, 200),
        metadata={"description": "Defaults to the user's full name"},
    )
    license_number = Trimmed(required=True, validate=Length(1, 32))
    license_category = String(required=True, validate=OneOf(LICENSE_CATEGORIES))
    license_expires_on = Date(required=True)


class DriverUpdateIn(Body):
    full_name = Name(validate=Length(1, 200))
    license_number = Trimmed(validate=Length(1, 32))
    license_category = String(validate=OneOf(LICENSE_CATEGORIES))
    license_expires_on = Date()


class DriverOut(ModelSchema):
    class Meta:
        model = Driver
