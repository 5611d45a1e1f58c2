"""HTTP routes of the media service."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, send_file
from werkzeug.utils import secure_filename

from media_service import service
from media_service.schemas import MediaFileOut, UploadIn
from media_service.storage import HashingFile, LocalStorage
from shared.db import current_session
from shared.errors import APIError
from shared.internal_auth import require_user

bp = APIBlueprint("media", __name__, url_prefix="/api/v1/media", tag="Media")


def _storage() -> LocalStorage:
    return current_app.extensions["media_storage"]


@bp.post("/files")
@bp.input(UploadIn, location="form_and_files", arg_name="body")
@bp.output(MediaFileOut, status_code=201)
@bp.doc(summary="Upload a photo, receipt or document (multipart)")
def upload_file(body: dict[str, Any]) -> Any:
    identity = require_user()
    settings = current_app.config["FROTA_SETTINGS"]
    upload = body["file"].stream
    if not isinstance(upload, HashingFile):
        raise APIError(400, "malformed_request", "The file part could not be read")
    return service.store_upload(
        db_session=current_session(),
        storage=_storage(),
        upload=upload,
        owner=identity,
        kind=body["kind"],
        filename=secure_filename(body["file"].filename or "") or None,
        max_bytes=settings.media_max_upload_mb * 1024 * 1024,
        retention_days=settings.media_retention_days,
    )


@bp.get("/files/<uuid:file_id>")
@bp.output(MediaFileOut)
@bp.doc(summary="A file's metadata")
def get_file(file_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_file(db_session=current_session(), identity=identity, file_id=file_id)


@bp.get("/files/<uuid:file_id>/content")
@bp.doc(summary="A file's bytes (streamed; ETag and Range supported)")
def get_file_content(file_id: uuid.UUID) -> Response:
    identity = require_user()
    media = service.get_file(db_session=current_session(), identity=identity, file_id=file_id)
    path = _storage().path_for(media.id)
    if not path.exists():
        raise APIError(404, "file_missing", "The file's content is no longer stored")
    response = send_file(
        path,
        mimetype=media.content_type,
        as_attachment=media.content_type == "application/pdf",
        download_name=media.filename or f"{media.id}",
        etag=media.sha256,
        conditional=True,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
