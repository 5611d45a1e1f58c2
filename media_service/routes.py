"""HTTP routes of the media service."""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import Iterable
from typing import Any

from apiflask import APIBlueprint
from apiflask.types import ResponsesObjectType
from flask import Response, current_app, g, request, send_file
from werkzeug.utils import secure_filename

from media_service import quota, service
from media_service.schemas import MediaFileOut, ThumbnailQuery, UploadIn, UsageOut
from media_service.storage import HashingFile, LocalStorage
from shared.config import Settings
from shared.db import current_session
from shared.errors import APIError
from shared.internal_auth import current_identity, current_user, user_auth
from shared.roles import MANAGERS
from shared.routes import command_route, get_route

bp = APIBlueprint("media", __name__, url_prefix="/api/v1/media", tag="Media")

MB = 1024 * 1024


def _bytes_of(media_types: Iterable[str]) -> dict[str, dict[str, Any]]:
    """An OpenAPI response content of raw bytes of each of ``media_types``."""
    return {
        media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media_types
    }


NOT_MODIFIED = "Not modified since the ETag sent in If-None-Match"
CONTENT_RESPONSES: ResponsesObjectType = {
    200: {
        "description": "The bytes, of the type the file's content_type says",
        "content": _bytes_of(sorted(set(service.ALLOWED_TYPES.values()))),
    },
    206: {
        "description": "The part a Range header asked for",
        "content": _bytes_of(sorted(set(service.ALLOWED_TYPES.values()))),
    },
    304: {"description": NOT_MODIFIED},
    404: {
        "description": "No such file (file_not_found), "
        "or its content is no longer stored (file_missing)"
    },
    416: {"description": "The Range asked for lies outside the file"},
}
THUMBNAIL_RESPONSES: ResponsesObjectType = {
    200: {"description": "The JPEG thumbnail", "content": _bytes_of(["image/jpeg"])},
    304: {"description": NOT_MODIFIED},
    404: {"description": "No such file, or not an image (no_thumbnail)"},
    422: {
        "description": "More than MEDIA_MAX_IMAGE_PIXELS to decode (image_too_large), "
        "or undecodable (image_unreadable)"
    },
    503: {"description": "Every decoding slot stayed busy (thumbnails_busy, with Retry-After)"},
}


def _storage() -> LocalStorage:
    return current_app.extensions["media_storage"]


def _settings() -> Settings:
    return current_app.config["FROTA_SETTINGS"]


@bp.before_request
def open_upload_reservation() -> None:
    """Before werkzeug reads a byte of an upload's body: limits, reservation, idle timeout.

    A declared Content-Length over the per-file limit is 413, one that cannot
    fit in the free quota 507; otherwise a reservation of at most one step
    opens, which grows as bytes arrive (:class:`quota.GrowingReservation`).
    The teardown releases it unless the upload settled it.
    """
    if request.endpoint != "media.upload_file":
        return
    # The route's own declaration is checked only when its view runs, after this.
    current_user()
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise APIError(
            413, "file_too_large", f"Files may be at most {_settings().media_max_upload_mb} MB"
        )
    quota_bytes = _settings().media_quota_mb * MB
    g.reservation_id = quota.open_reservation(
        db_session=current_session(),
        declared_bytes=request.content_length,
        quota_bytes=quota_bytes,
        step=quota.RESERVATION_STEP,
    )
    g.reservation = quota.GrowingReservation(
        db_session=current_session(),
        reservation_id=g.reservation_id,
        quota_bytes=quota_bytes,
        declared_bytes=request.content_length,
    )
    _limit_body_idle(_settings().media_upload_idle_seconds)


def _limit_body_idle(seconds: float) -> None:
    """Give up on a body that sends nothing for ``seconds`` (408), instead of waiting forever.

    gunicorn's gthread workers read bodies on blocking sockets without any
    timeout, so a stalled upload would hold a worker thread (and its
    reservation) for as long as the client liked. The timeout lasts for this
    request: gunicorn resets the socket before reusing the connection.
    """
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if sock is not None and seconds > 0:
        sock.settimeout(seconds)


@bp.post("/files")
@bp.auth_required(user_auth)
@bp.input(UploadIn, location="form_and_files", arg_name="body")
@bp.output(MediaFileOut, status_code=201)
@bp.doc(
    responses={
        408: "No bytes arrived for MEDIA_UPLOAD_IDLE_SECONDS (request_timeout)",
        413: "Over MEDIA_MAX_UPLOAD_MB (file_too_large)",
        415: "Not JPEG, PNG, WebP, HEIC or PDF by its bytes, or not what was declared",
        507: "The upload would cross MEDIA_QUOTA_MB (quota_exceeded), "
        "or the volume's disk is full (insufficient_storage)",
    },
)
def upload_file(body: dict[str, Any]) -> Any:
    """Upload a photo, receipt or document (multipart)"""
    identity = current_identity()
    upload = body["file"].stream
    if not isinstance(upload, HashingFile):
        raise APIError(400, "malformed_request", "The file part could not be read")
    media = service.store_upload(
        db_session=current_session(),
        storage=_storage(),
        upload=upload,
        reservation_id=g.reservation_id,
        identity=identity,
        kind=body["kind"],
        filename=secure_filename(body["file"].filename or "") or None,
        declared_type=body["file"].mimetype,
        retention_days=_settings().media_retention_days,
    )
    # Settled in the row's transaction: nothing left for the teardown to release.
    del g.reservation_id, g.reservation
    return media


get_route(
    bp,
    "/files/<uuid:file_id>",
    service.FILES,
    endpoint="get_file",
    item=MediaFileOut,
    summary="A file's metadata",
)


@bp.get("/files/<uuid:file_id>/content")
@bp.auth_required(user_auth)
@bp.doc(responses=CONTENT_RESPONSES)
def get_file_content(file_id: uuid.UUID) -> Response:
    """A file's bytes (streamed; ETag and Range supported)"""
    identity = current_identity()
    media = service.FILES.get(current_session(), identity, file_id)
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


@bp.get("/files/<uuid:file_id>/thumbnail")
@bp.auth_required(user_auth)
@bp.input(ThumbnailQuery, location="query", arg_name="query")
@bp.doc(responses=THUMBNAIL_RESPONSES)
def get_thumbnail(file_id: uuid.UUID, query: dict[str, Any]) -> Response:
    """A JPEG thumbnail of an image: upright, without metadata, made once and cached"""
    media, thumbnail = service.thumbnail_of(
        db_session=current_session(),
        storage=_storage(),
        identity=current_identity(),
        file_id=file_id,
        size=query["size"],
        max_pixels=_settings().media_max_image_pixels,
        decoder=current_app.extensions["media_decoder"],
    )
    response = send_file(
        io.BytesIO(thumbnail) if isinstance(thumbnail, bytes) else thumbnail,
        mimetype="image/jpeg",
        etag=f"{media.sha256}-{query['size']}",
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.delete("/files/<uuid:file_id>")
@bp.auth_required(user_auth)
@bp.output({}, status_code=204)
@bp.doc(
    responses={409: "The file is on hold (file_held)"},
)
def delete_file(file_id: uuid.UUID) -> tuple[str, int]:
    """Delete a file, its thumbnails and its row (owner or manager)"""
    service.delete_file(
        db_session=current_session(),
        storage=_storage(),
        identity=current_identity(),
        file_id=file_id,
    )
    return "", 204


command_route(
    bp,
    "POST",
    "/files/<uuid:file_id>/hold",
    functools.partial(service.set_hold, held=True),
    item=MediaFileOut,
    roles=MANAGERS,
    endpoint="hold_file",
    summary="Put a file on hold: it is never pruned (managers)",
)
command_route(
    bp,
    "DELETE",
    "/files/<uuid:file_id>/hold",
    functools.partial(service.set_hold, held=False),
    item=MediaFileOut,
    roles=MANAGERS,
    endpoint="release_file",
    summary="Release a file's hold (managers)",
)


@bp.get("/usage")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.output(UsageOut)
def get_usage() -> Any:
    """Bytes used and reserved against the quota, files, the oldest file (managers)"""
    return quota.volume_report(
        db_session=current_session(), quota_bytes=_settings().media_quota_mb * MB
    )
