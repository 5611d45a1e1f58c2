"""The media service: uploads, downloads, thumbnails, quota and retention on the media volume."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from apiflask import APIFlask
from flask import Request, current_app, g
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ClientDisconnected

from media_service import internal_routes, quota, routes
from media_service.images import Decoder, decode_lock_dir
from media_service.storage import HashingFile, LocalStorage
from shared.config import Settings
from shared.db import Database, current_session
from shared.errors import APIError
from shared.service_app import create_service_app

SERVICE = "media"
MIGRATIONS = Path(__file__).parent / "migrations"
MB = 1024 * 1024
# Room for the multipart framing and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024

logger = logging.getLogger("frota.media")


class MediaRequest(Request):
    """Streams uploaded file parts straight to the media volume, hashing as they come.

    Every part writes through the request's growing quota reservation, which
    the upload route opened before the body is read.
    """

    def _get_file_stream(self, *args: Any, **kwargs: Any) -> Any:
        reservation: quota.GrowingReservation | None = g.get("reservation")
        if reservation is None:
            raise APIError(400, "malformed_request", "Only the upload route accepts files")
        if g.get("uploads"):
            # The route keeps one file; more parts would only be more temporary
            # files (and open descriptors) on the volume, up to werkzeug's 1000.
            raise APIError(400, "one_file_per_upload", "An upload carries exactly one file")
        settings: Settings = current_app.config["FROTA_SETTINGS"]
        storage: LocalStorage = current_app.extensions["media_storage"]
        upload: HashingFile = storage.new_upload(
            max_bytes=settings.media_max_upload_mb * MB, reserve=reservation.cover
        )
        g.setdefault("uploads", []).append(upload)
        return upload

    def _get_stream_for_parsing(self) -> Any:
        return _IdleBody(super()._get_stream_for_parsing())


class _IdleBody:
    """The body as the form parser reads it, where a read that outwaits the socket is 408.

    The upload route gives the connection's socket a timeout
    (MEDIA_UPLOAD_IDLE_SECONDS); werkzeug reports the timeout as a client
    disconnect, which it is not.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except ClientDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):
                raise APIError(
                    408,
                    "request_timeout",
                    "The upload stalled: no bytes arrived for too long",
                    headers={"Connection": "close"},
                ) from None
            raise
        return data


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> APIFlask:
    settings = settings or Settings.from_env()
    app = create_service_app(
        SERVICE, settings, import_name=__name__, title="Frota media", database=database
    )
    app.request_class = MediaRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.media_max_upload_mb * MB + MULTIPART_OVERHEAD
    app.extensions["media_storage"] = LocalStorage(settings.media_root)
    app.extensions["media_decoder"] = Decoder(
        settings.media_image_decodes,
        settings.media_image_decode_wait_seconds,
        decode_lock_dir(settings.media_root),
    )
    app.teardown_request(clean_up_upload)
    app.register_blueprint(routes.bp)
    app.register_blueprint(internal_routes.bp)
    return app


def clean_up_upload(_exc: BaseException | None) -> None:
    """Whatever happened to the request, no temporary upload or reservation outlives it."""
    for upload in g.pop("uploads", []):
        upload.discard()
    g.pop("reservation", None)
    reservation_id = g.pop("reservation_id", None)
    if reservation_id is None:
        return
    db_session = current_session()
    try:
        db_session.rollback()  # the request may have left its transaction failed
        quota.release_reservation(db_session=db_session, reservation_id=reservation_id)
    except SQLAlchemyError:
        # Prune releases stale reservations later; this request's outcome stands.
        logger.exception("could not release upload reservation %s", reservation_id)
