"""Request and response shapes of the inspections API."""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask import Schema
from apiflask.fields import UUID, Boolean, List, Nested, String
from apiflask.validators import Length, OneOf
from marshmallow import ValidationError, validates_schema

from fleet_service.fields import media_ids_field
from fleet_service.inspections.models import SEVERITIES, Inspection
from shared.schemas import Body, ModelSchema, Trimmed, present

MAX_ITEMS = 100
# Each file is looked up with the media service, one call each: a bound on the calls.
MAX_FILES = 50


class InspectionItemIn(Body):
    item = Trimmed(required=True, validate=Length(1, 120))
    ok = Boolean(required=True)
    severity = String(
        load_default=None,
        allow_none=True,
        validate=OneOf(SEVERITIES),
        metadata={"description": "Required when the item failed"},
    )
    note = Trimmed(load_default=None, allow_none=True, validate=Length(max=500))
    media_ids = media_ids_field()
    json_schema: ClassVar = {
        "if": {"required": ["ok"], "properties": {"ok": {"const": False}}},
        "then": present("severity", "string"),
    }


class InspectionCreateIn(Body):
    vehicle_id = UUID(required=True)
    trip_id = UUID(load_default=None, allow_none=True)
    items = List(Nested(InspectionItemIn), required=True, validate=Length(1, MAX_ITEMS))

    @validates_schema
    def cites_few_enough_files(self, data: dict[str, Any], **kwargs: Any) -> None:
        files = {file_id for item in data.get("items", []) for file_id in item["media_ids"]}
        if len(files) > MAX_FILES:
            raise ValidationError(f"at most {MAX_FILES} files per inspection", "items")


class InspectionResolveIn(Body):
    note = Trimmed(required=True, validate=Length(1, 500))


class InspectionItemOut(Schema):
    item = String(required=True)
    ok = Boolean(required=True)
    severity = String(allow_none=True)
    note = String(allow_none=True)
    media_ids = List(UUID(), required=True)


class InspectionOut(ModelSchema):
    class Meta:
        model = Inspection

    items = List(Nested(InspectionItemOut), required=True)
    failed = Boolean(required=True)
    failure_severity = String(
        allow_none=True, metadata={"description": "The worst severity among the failed items"}
    )
