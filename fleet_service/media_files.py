"""The media service's files, looked up over its internal API (fleet records attach them)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, current_app

from fleet_service.callers import caller_user_id
from shared.config import Settings
from shared.errors import APIError
from shared.http_client import ServiceClient
from shared.internal_auth import Identity
from shared.routes import Uses


@dataclass(frozen=True)
class MediaFile:
    """What the fleet needs of a file: that it exists, and whose it is."""

    id: uuid.UUID
    owner_id: uuid.UUID


FindFile = Callable[[uuid.UUID], MediaFile | None]


class MediaFiles:
    """The files of the media service, as the fleet sees them."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def find(self, file_id: uuid.UUID) -> MediaFile | None:
        """The file, or None when the media service has no such file."""
        body = self.client.find(f"/internal/files/{file_id}")
        if body is None:
            return None
        return MediaFile(id=uuid.UUID(body["id"]), owner_id=uuid.UUID(body["owner_id"]))


def unusable_files(
    file_ids: Iterable[uuid.UUID], *, identity: Identity, find_file: FindFile
) -> list[uuid.UUID]:
    """The ids among ``file_ids`` that ``identity`` may not attach to a fleet record.

    A file must exist; a driver may attach only their own uploads, while managers
    may attach any file (a receipt scanned at the office, say). Another user's file
    is refused exactly like a missing one, so ids reveal nothing.
    """
    refused = []
    for file_id in dict.fromkeys(file_ids):
        media = find_file(file_id)
        if media is None or (
            not identity.is_manager and media.owner_id != caller_user_id(identity)
        ):
            refused.append(file_id)
    return refused


def check_files(
    file_ids: Iterable[uuid.UUID], *, identity: Identity, find_file: FindFile, field: str
) -> None:
    """422 naming ``field`` unless ``identity`` may attach every one of ``file_ids``."""
    refused = unusable_files(file_ids, identity=identity, find_file=find_file)
    if refused:
        raise APIError(422, details={field: [f"no such file: {file_id}" for file_id in refused]})


def init_app(app: Flask, settings: Settings) -> None:
    """One pooled client to the media service per app."""
    client = ServiceClient.for_service(settings, caller="fleet", target="media")
    app.extensions["media_files"] = MediaFiles(client)


def media_files() -> MediaFiles:
    """The media service's files, for the app being served."""
    files: MediaFiles = current_app.extensions["media_files"]
    return files


# For command routes whose service function attaches files (see shared.routes).
FIND_FILE: Uses = {"find_file": lambda: media_files().find}
