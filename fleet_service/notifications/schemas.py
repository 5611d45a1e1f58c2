"""Request and response shapes of the notification settings API."""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask.fields import Email, String
from apiflask.validators import Length, OneOf
from marshmallow import ValidationError, validates_schema

from fleet_service.notifications.models import DIGESTS, LANGUAGES, NotificationSetting
from shared.schemas import Body, ModelSchema, present


class NotificationSettingsIn(Body):
    email_digest = String(
        required=True,
        validate=OneOf(DIGESTS),
        metadata={"description": "daily: one e-mail a day listing new and open alerts"},
    )
    language = String(required=True, validate=OneOf(LANGUAGES))
    email = Email(
        load_default=None,
        allow_none=True,
        validate=Length(max=254),
        metadata={"description": "Where the digest goes; required for a daily digest"},
    )
    json_schema: ClassVar = {
        "if": {"required": ["email_digest"], "properties": {"email_digest": {"const": "daily"}}},
        "then": present("email", "string"),
    }

    @validates_schema
    def daily_has_an_address(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("email_digest") == "daily" and data.get("email") is None:
            raise ValidationError("required for a daily digest", "email")


class NotificationSettingsOut(ModelSchema):
    class Meta:
        model = NotificationSetting
        exclude = ("user_id", "last_digest_at", "updated_at")
