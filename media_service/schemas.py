"""Request and response shapes of the media API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Boolean, File, Integer, String
from apiflask.validators import OneOf

from media_service.models import KINDS
from shared.schemas import UTCDateTime


class UploadIn(Schema):
    file = File(required=True)
    kind = String(load_default="photo", validate=OneOf(KINDS))


class MediaFileOut(Schema):
    id = UUID(required=True)
    content_type = String(required=True)
    size = Integer(required=True)
    sha256 = String(required=True)
    kind = String(required=True)
    held = Boolean(required=True)
    created_at = UTCDateTime(required=True)
    expires_at = UTCDateTime(required=True)
