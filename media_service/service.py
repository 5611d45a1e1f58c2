"""Media rules: what may be stored, who may see it, and keeping row and file together."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import puremagic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.models import MediaFile
from media_service.storage import HashingFile, LocalStorage
from shared.errors import APIError
from shared.internal_auth import Identity

# What we accept, by what the bytes say (never by name or declared type).
ALLOWED_TYPES = {
    "image/jpeg": "image/jpeg",
    "image/png": "image/png",
    "image/webp": "image/webp",
    "image/heic": "image/heic",
    "image/heif": "image/heic",
    "application/pdf": "application/pdf",
}


def detect_content_type(head: bytes) -> str:
    """The content type of a file from its first bytes; 415 for anything not allowed."""
    try:
        matches = puremagic.magic_string(head)
    except puremagic.PureError:
        matches = []
    for match in matches:
        if match.mime_type in ALLOWED_TYPES:
            return ALLOWED_TYPES[match.mime_type]
    raise APIError(
        415,
        "unsupported_media_type",
        "Only JPEG, PNG, WebP, HEIC and PDF files are accepted",
    )


def store_upload(
    *,
    db_session: Session,
    storage: LocalStorage,
    upload: HashingFile,
    owner: Identity,
    kind: str,
    filename: str | None,
    max_bytes: int,
    retention_days: int,
) -> MediaFile:
    """Keep an uploaded file: check it, move it into place, then commit its row.

    Any failure removes the file, so that a row never points at nothing and no
    file is left without a row.
    """
    try:
        if upload.size > max_bytes:
            raise APIError(
                413, "file_too_large", f"Files may be at most {max_bytes // (1024 * 1024)} MB"
            )
        content_type = detect_content_type(upload.head)
        now = datetime.now(UTC)
        media = MediaFile(
            id=uuid.uuid4(),
            owner_id=uuid.UUID(owner.user_id or ""),
            kind=kind,
            content_type=content_type,
            size=upload.size,
            sha256=upload.sha256.hexdigest(),
            filename=filename,
            created_at=now,
            expires_at=now + timedelta(days=retention_days),
        )
        storage.place(upload, media.id)
    except BaseException:
        upload.discard()
        raise
    db_session.add(media)
    try:
        db_session.commit()
    except BaseException:
        db_session.rollback()
        storage.delete(media.id)
        raise
    return media


def visible_files(identity: Identity) -> sa.Select[tuple[MediaFile]]:
    """Drivers see their own files only; managers and admins see all."""
    stmt = sa.select(MediaFile)
    if not identity.is_manager:
        stmt = stmt.where(MediaFile.owner_id == uuid.UUID(identity.user_id or ""))
    return stmt


def get_file(*, db_session: Session, identity: Identity, file_id: uuid.UUID) -> MediaFile:
    media = db_session.scalar(visible_files(identity).where(MediaFile.id == file_id))
    if media is None:
        raise APIError(404, "file_not_found", "No such file")
    return media
