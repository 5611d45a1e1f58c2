"""Media rules: what may be stored, who may see it, and keeping row and file together.

Storing: the file is checked and moved into place first, then its row is
committed; a failure at any step removes the file. Deleting: the row is marked
(committed), the file unlinked, then the row deleted (committed); a crash in
between leaves a marked row, invisible to the API, that the next prune run
finishes. Either way no visible row ever points at a missing file.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import puremagic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.images import Decoder, ImageFacts, inspect_image, is_image, make_thumbnail
from media_service.models import MediaFile
from media_service.quota import record_freed, settle_reservation
from media_service.storage import HashingFile, LocalStorage
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records

# What we accept, by what the bytes say (never by name or declared type).
ALLOWED_TYPES = {
    "image/jpeg": "image/jpeg",
    "image/png": "image/png",
    "image/webp": "image/webp",
    "image/heic": "image/heic",
    "image/heif": "image/heic",
    "application/pdf": "application/pdf",
}
# Declared types that say nothing about the content, so cannot contradict it.
UNINFORMATIVE_TYPES = frozenset({"", "application/octet-stream"})
# Other names clients use for the types we accept.
DECLARED_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/heif": "image/heic",
    "application/x-pdf": "application/pdf",
}


def detect_content_type(head: bytes) -> str:
    """The content type of a file from its first bytes; 415 for anything not allowed.

    Only puremagic's most confident matches count, so a file that looks most
    like HTML, SVG or an executable is refused even if a weaker signature of an
    accepted type also matches somewhere in it.
    """
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):  # ValueError: an empty file
        matches = []
    best = max((match.confidence for match in matches), default=0.0)
    for match in matches:
        if match.confidence == best and match.mime_type in ALLOWED_TYPES:
            return ALLOWED_TYPES[match.mime_type]
    raise APIError(
        415,
        "unsupported_media_type",
        "Only JPEG, PNG, WebP, HEIC and PDF files are accepted",
    )


def check_declared_type(declared: str | None, detected: str) -> None:
    """415 when the client said the file is one accepted type and the bytes say another."""
    name = (declared or "").strip().lower()
    name = DECLARED_ALIASES.get(name, name)
    if name not in UNINFORMATIVE_TYPES and name != detected:
        raise APIError(
            415,
            "content_type_mismatch",
            f"The file was declared as {name} but its content is {detected}",
            details={"declared": name, "detected": detected},
        )


def store_upload(
    *,
    db_session: Session,
    storage: LocalStorage,
    upload: HashingFile,
    reservation_id: uuid.UUID,
    identity: Identity,
    kind: str,
    filename: str | None,
    declared_type: str | None,
    retention_days: int,
) -> MediaFile:
    """Keep an uploaded file: check it, move it into place, then commit its row.

    The row's transaction also turns the upload's quota reservation into the
    file's actual size. Any failure removes the file, so that a row never
    points at nothing and no file is left without a row.
    """
    try:
        upload.finish()
        content_type = detect_content_type(upload.head)
        check_declared_type(declared_type, content_type)
        facts = inspect_image(upload.path, content_type) if is_image(content_type) else ImageFacts()
        now = datetime.now(UTC)
        media = MediaFile(
            id=uuid.uuid4(),
            owner_id=uuid.UUID(identity.user_id or ""),
            kind=kind,
            content_type=content_type,
            size=upload.size,
            sha256=upload.sha256.hexdigest(),
            filename=filename,
            width=facts.width,
            height=facts.height,
            captured_at=facts.captured_at,
            created_at=now,
            expires_at=now + timedelta(days=retention_days),
        )
        storage.place(upload, media.id)
    except BaseException:
        upload.discard()
        raise
    try:
        db_session.add(media)
        settle_reservation(db_session=db_session, reservation_id=reservation_id, stored=media.size)
        db_session.commit()
    except BaseException:
        db_session.rollback()
        storage.delete(media.id)
        raise
    return media


FILES = Records(
    MediaFile,
    not_found=("file_not_found", "No such file"),
    # A driver sees their own files.
    drivers_see=lambda identity: MediaFile.owner_id == uuid.UUID(identity.user_id or ""),
    # Never rows being deleted.
    always=lambda: MediaFile.deleting_at.is_(None),
)


def delete_file(
    *, db_session: Session, storage: LocalStorage, identity: Identity, file_id: uuid.UUID
) -> None:
    """Delete a file and its row (owner or manager); a held file must be released first."""
    media = FILES.get(db_session, identity, file_id, for_update=True)
    if media.held:
        db_session.rollback()
        raise APIError(409, "file_held", "The file is on hold; release the hold to delete it")
    media.deleting_at = datetime.now(UTC)
    db_session.commit()
    finish_deletions(db_session=db_session, storage=storage, file_ids=[media.id])


def finish_deletions(
    *, db_session: Session, storage: LocalStorage, file_ids: Sequence[uuid.UUID]
) -> tuple[int, int]:
    """Unlink the files of rows marked for deletion, then delete the rows and commit.

    Repeating it is harmless, and rows deleted meanwhile by someone else are
    not counted twice. Returns the number of rows deleted and their bytes.
    """
    for file_id in file_ids:
        storage.delete(file_id)
    sizes = db_session.scalars(
        sa.delete(MediaFile)
        .where(MediaFile.id.in_(file_ids), MediaFile.deleting_at.is_not(None))
        .returning(MediaFile.size)
        .execution_options(synchronize_session=False)
    ).all()
    freed = sum(sizes)
    record_freed(db_session=db_session, nbytes=freed)
    db_session.commit()
    return len(sizes), freed


def set_hold(
    *, db_session: Session, identity: Identity, file_id: uuid.UUID, held: bool
) -> MediaFile:
    """Put a file on hold (never pruned, never deleted) or release it."""
    media = FILES.get(db_session, identity, file_id, for_update=True)
    media.held = held
    db_session.commit()
    return media


def thumbnail_of(
    *,
    db_session: Session,
    storage: LocalStorage,
    identity: Identity,
    file_id: uuid.UUID,
    size: int,
    max_pixels: int,
    decoder: Decoder,
) -> tuple[MediaFile, Path | bytes]:
    """The thumbnail of an image: its cached file, made on first request.

    When the volume is too full to cache it, the thumbnail just made is
    answered as bytes (made again next time): a full disk costs CPU, not reads.
    """
    media = FILES.get(db_session, identity, file_id)
    if not is_image(media.content_type):
        raise APIError(404, "no_thumbnail", "Only images have thumbnails")
    # Nothing below needs the database: do not hold a connection while decoding.
    db_session.commit()
    path = storage.thumbnail_path(media.id, size)
    if path.exists():
        return media, path
    source = storage.path_for(media.id)
    if not source.exists():
        raise APIError(404, "file_missing", "The file's content is no longer stored")
    thumbnail = make_thumbnail(source, size, max_pixels=max_pixels, decoder=decoder)
    try:
        return media, storage.save_thumbnail(media.id, size, thumbnail)
    except APIError as exc:
        # The cache is optional: a volume that is full or refuses writes costs
        # CPU, never the read.
        if exc.code not in {"insufficient_storage", "storage_unavailable"}:
            raise
        return media, thumbnail
