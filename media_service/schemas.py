"""Request and response shapes of the media API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, File, Integer, Nested, String
from apiflask.validators import OneOf
from marshmallow.fields import NaiveDateTime

from media_service.images import DEFAULT_THUMBNAIL_SIZE, THUMBNAIL_SIZES
from media_service.models import KINDS, MediaFile
from shared.schemas import ModelSchema, Query


class UploadIn(Schema):
    file = File(required=True)
    kind = String(load_default="photo", validate=OneOf(KINDS))


class MediaFileOut(ModelSchema):
    class Meta:
        model = MediaFile
        # A file being deleted is no one's to see: no answer carries the mark.
        exclude = ("deleting_at",)

    owner_id = UUID(required=True, metadata={"description": "The uploader's user id."})
    filename = String(allow_none=True, metadata={"description": "The client's name, sanitised."})
    width = Integer(allow_none=True, metadata={"description": "Images: as displayed."})
    captured_at = NaiveDateTime(
        allow_none=True,
        metadata={"description": "Images: EXIF capture time, the camera's clock (no offset)."},
    )


class ThumbnailQuery(Query):
    size = Integer(load_default=DEFAULT_THUMBNAIL_SIZE, validate=OneOf(THUMBNAIL_SIZES))


class UsageOut(Schema):
    used_bytes = Integer(required=True, metadata={"description": "Bytes of stored files."})
    reserved_bytes = Integer(required=True, metadata={"description": "Uploads in progress."})
    quota_bytes = Integer(required=True)
    files = Integer(required=True)
    oldest_file = Nested(MediaFileOut, allow_none=True)
