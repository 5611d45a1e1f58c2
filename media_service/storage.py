"""The media volume: where file bytes live, and how they get there safely.

Uploads stream into ``<root>/.incoming`` while being hashed, then move into a
sharded path derived from the file's id (never from the client's filename) by
an atomic rename after fsync. A crash at any point leaves either nothing or a
temporary file that the reconcile step removes. Thumbnails are a cache under
``<root>/.thumbnails``, sharded the same way and deleted with their file.

A full disk (ENOSPC, or EDQUOT under a filesystem quota) is not the media
quota: every write to the volume turns it into 507 ``insufficient_storage``,
and whatever was half-written is removed by its owner. A volume that refuses
writes altogether (mounted read-only, wrong owner, I/O errors) is the
operator's to fix: 503 ``storage_unavailable``, never a 500.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from shared.errors import APIError

logger = logging.getLogger("frota.media.storage")

INCOMING = ".incoming"
THUMBNAILS = ".thumbnails"
# What content-type detection looks at (every accepted signature is near the start).
HEAD_BYTES = 512
# What a full filesystem says: out of blocks or inodes, or over a filesystem quota.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
# What a volume that takes no writes at all says.
VOLUME_BROKEN = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


def insufficient_storage() -> APIError:
    return APIError(
        507,
        "insufficient_storage",
        "The media volume's disk is full; try again later",
        headers={"Retry-After": "60"},
    )


def storage_unavailable() -> APIError:
    return APIError(
        503,
        "storage_unavailable",
        "The media volume does not accept writes right now; try again later",
        headers={"Retry-After": "60"},
    )


@contextmanager
def disk_full_is_507() -> Iterator[None]:
    """Turn a full filesystem under the block into 507 ``insufficient_storage``.

    A volume that takes no writes at all is 503 ``storage_unavailable``.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL:
            logger.warning("media volume full: %s", exc)
            raise insufficient_storage() from None
        if exc.errno in VOLUME_BROKEN:
            logger.error("media volume refuses writes: %s", exc)
            raise storage_unavailable() from None
        raise


class HashingFile:
    """A write-only temporary file that hashes and counts what is written to it.

    Writing past ``max_bytes`` raises 413 at once, so a body without a
    Content-Length (or one that lies) is stopped while it streams. Before
    bytes are written, ``reserve`` is told how many (the quota reservation
    grows with them, or raises 507).
    """

    def __init__(self, directory: Path, max_bytes: int, reserve: Callable[[int], None]) -> None:
        with disk_full_is_507():
            directory.mkdir(parents=True, exist_ok=True)
            self._file: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by owner
                dir=directory, prefix="upload-", delete=False
            )
        self.path = Path(self._file.name)
        self.max_bytes = max_bytes
        self.reserve = reserve
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, data: bytes) -> int:
        if self.size + len(data) > self.max_bytes:
            raise APIError(
                413,
                "file_too_large",
                f"Files may be at most {self.max_bytes // (1024 * 1024)} MB",
            )
        self.reserve(len(data))
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self.sha256.update(data)
        self.size += len(data)
        with disk_full_is_507():
            return self._file.write(data)

    # Werkzeug's multipart parser treats this as a file: it seeks back to 0
    # after writing and may read; both go to the real file.
    def seek(self, *args: Any) -> int:
        return self._file.seek(*args)

    def read(self, *args: Any) -> bytes:
        return self._file.read(*args)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        with disk_full_is_507():
            self._file.flush()

    def close(self) -> None:
        self._file.close()

    def finish(self) -> None:
        """Flush and fsync, so that a rename after this cannot expose a partial file."""
        # Buffered bytes, and on some filesystems blocks allocated late, meet a
        # full disk only here.
        with disk_full_is_507():
            self._file.flush()
            os.fsync(self._file.fileno())
        self._file.close()

    def discard(self) -> None:
        # Flushing what is left may fail (a full disk): the file goes anyway.
        with suppress(OSError):
            self._file.close()
        self.path.unlink(missing_ok=True)


class LocalStorage:
    """Files on the media volume under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / INCOMING
        self.thumbnails = root / THUMBNAILS

    def path_for(self, file_id: uuid.UUID) -> Path:
        name = file_id.hex
        return self.root / name[:2] / name[2:4] / name

    def thumbnail_path(self, file_id: uuid.UUID, size: int) -> Path:
        name = file_id.hex
        return self.thumbnails / name[:2] / name[2:4] / f"{name}-{size}.jpg"

    def new_upload(self, max_bytes: int, reserve: Callable[[int], None]) -> HashingFile:
        return HashingFile(self.incoming, max_bytes, reserve)

    def place(self, upload: HashingFile, file_id: uuid.UUID) -> Path:
        """Move a finished (fsynced) upload to its final path atomically and durably."""
        target = self.path_for(file_id)
        # A new shard directory, or a directory's new entry, may need a block.
        with disk_full_is_507():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(upload.path, target)
            try:
                _fsync_dir(target.parent)
            except BaseException:
                target.unlink(missing_ok=True)  # no row will ever point at it
                raise
        return target

    def save_thumbnail(self, file_id: uuid.UUID, size: int, thumbnail: bytes) -> Path:
        """Cache a thumbnail; readers never see a partial one. 507 when the disk is full."""
        target = self.thumbnail_path(file_id, size)
        with disk_full_is_507():
            target.parent.mkdir(parents=True, exist_ok=True)
            self.incoming.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                dir=self.incoming, prefix="thumb-", delete=False
            ) as tmp:
                try:
                    tmp.write(thumbnail)
                    tmp.flush()
                    os.fsync(tmp.fileno())
                except BaseException:
                    Path(tmp.name).unlink(missing_ok=True)
                    raise
            try:
                # Two first requests may race here; either result is the same thumbnail.
                os.replace(tmp.name, target)
            except BaseException:
                Path(tmp.name).unlink(missing_ok=True)  # a directory entry needed a block
                raise
        return target

    def delete(self, file_id: uuid.UUID) -> None:
        """Remove a file and its cached thumbnails (whichever of them exist)."""
        self.path_for(file_id).unlink(missing_ok=True)
        prefix = f"{file_id.hex}-"
        try:
            with os.scandir(self.thumbnail_path(file_id, 0).parent) as entries:
                thumbnails = [entry.path for entry in entries if entry.name.startswith(prefix)]
        except FileNotFoundError:
            return  # never had a thumbnail
        for thumbnail in thumbnails:
            Path(thumbnail).unlink(missing_ok=True)

    def stored_files(self) -> Iterator[Path]:
        """Every file in the sharded tree (not the temporary or thumbnail folders)."""
        yield from _walk(self.root, skip={INCOMING, THUMBNAILS})

    def thumbnail_files(self) -> Iterator[Path]:
        yield from _walk(self.thumbnails, skip=set())

    def incoming_files(self) -> Iterator[Path]:
        yield from _walk(self.incoming, skip=set())


def file_id_of(path: Path) -> uuid.UUID | None:
    """The id a stored file or thumbnail belongs to, from its name; None for strangers."""
    try:
        return uuid.UUID(hex=path.name.split("-", 1)[0])
    except ValueError:
        return None


def _walk(directory: Path, *, skip: set[str]) -> Iterator[Path]:
    # os.scandir streams directory entries: memory stays flat however many files.
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in skip:
                    yield from _walk(Path(entry.path), skip=set())
            elif entry.is_file(follow_symlinks=False):
                yield Path(entry.path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
