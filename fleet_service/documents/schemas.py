"""Request and response shapes of the documents API."""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask.fields import UUID, Date
from apiflask.validators import Length
from marshmallow import ValidationError, validates_schema

from fleet_service.documents.models import Document
from shared.schemas import Body, ModelSchema, Trimmed, present


class DocumentCreateIn(Body):
    vehicle_id = UUID(load_default=None, allow_none=True)
    driver_id = UUID(load_default=None, allow_none=True)
    type = Trimmed(
        required=True,
        validate=Length(1, 40),
        metadata={"description": "e.g. registration, insurance, inspection (stored lower case)"},
    )
    number = Trimmed(required=True, validate=Length(1, 60))
    valid_from = Date(load_default=None, allow_none=True)
    valid_until = Date(
        load_default=None, allow_none=True, metadata={"description": "None: never expires"}
    )
    media_id = UUID(load_default=None, allow_none=True)
    # Exactly one of vehicle_id and driver_id: as if/then/else, not oneOf
    # (shared.schemas.present says why).
    json_schema: ClassVar = {
        "if": present("vehicle_id", "string"),
        "then": {"not": present("driver_id", "string")},
        "else": present("driver_id", "string"),
    }

    @validates_schema
    def has_one_holder(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("vehicle_id") is None) == (data.get("driver_id") is None):
            raise ValidationError("exactly one of vehicle_id and driver_id is required", "_schema")
        valid_from, valid_until = data.get("valid_from"), data.get("valid_until")
        if valid_from and valid_until and valid_until < valid_from:
            raise ValidationError("must not be before valid_from", "valid_until")


class DocumentOut(ModelSchema):
    class Meta:
        model = Document
