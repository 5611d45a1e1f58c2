"""The media service: uploads, downloads, quota and retention on the media volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apiflask import APIFlask
from flask import Request, current_app, g

from media_service import routes
from media_service.storage import HashingFile, LocalStorage
from shared.config import Settings
from shared.db import Database
from shared.service_app import create_service_app

SERVICE = "media"
MIGRATIONS = Path(__file__).parent / "migrations"
# Room for the multipart framing and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


class MediaRequest(Request):
    """Streams uploaded file parts straight to the media volume, hashing as they come."""

    def _get_file_stream(self, *args: Any, **kwargs: Any) -> Any:
        upload: HashingFile = current_app.extensions["media_storage"].new_upload()
        g.setdefault("uploads", []).append(upload)
        return upload


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> APIFlask:
    settings = settings or Settings.from_env()
    app = create_service_app(
        SERVICE, settings, import_name=__name__, title="Frota media", database=database
    )
    app.request_class = MediaRequest
    app.config["MAX_CONTENT_LENGTH"] = (
        settings.media_max_upload_mb * 1024 * 1024 + MULTIPART_OVERHEAD
    )
    app.extensions["media_storage"] = LocalStorage(settings.media_root)
    app.teardown_request(discard_unplaced_uploads)
    app.register_blueprint(routes.bp)
    return app


def discard_unplaced_uploads(_exc: BaseException | None) -> None:
    """Whatever happened to the request, no temporary upload outlives it."""
    for upload in g.pop("uploads", []):
        upload.discard()
