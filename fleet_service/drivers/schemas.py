"""Request and response shapes of the drivers API."""

from __future__ import annotations

from typing import Any

from apiflask.fields import UUID, Date, String
from apiflask.validators import Length, OneOf

from fleet_service.drivers.models import LICENSE_CATEGORIES, Driver
from shared.schemas import Body, Code, ModelSchema, Name


def license_number(**options: Any) -> Code:
    # License numbers vary by country (a Brazilian CNH has 11 digits).
    return Code(
        ("[A-Z0-9]", 5, 20),
        message="must be 5 to 20 letters or digits",
        validate=Length(1, 32),
        metadata={"description": "5 to 20 letters or digits; separators are dropped"},
        **options,
    )


class DriverCreateIn(Body):
    user_id = UUID(required=True, metadata={"description": "The driver's user (auth service)"})
    full_name = Name(
        load_default=None,
        validate=Length(1, 200),
        metadata={"description": "Defaults to the user's full name"},
    )
    license_number = license_number(required=True)
    license_category = String(required=True, validate=OneOf(LICENSE_CATEGORIES))
    license_expires_on = Date(required=True)


class DriverUpdateIn(Body):
    full_name = Name(validate=Length(1, 200))
    license_number = license_number()
    license_category = String(validate=OneOf(LICENSE_CATEGORIES))
    license_expires_on = Date()


class DriverOut(ModelSchema):
    class Meta:
        model = Driver
