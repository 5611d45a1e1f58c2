"""The media volume: where file bytes live, and how they get there safely.

Uploads stream into ``<root>/.incoming`` while being hashed, then move into a
sharded path derived from the file's id (never from the client's filename) by
an atomic rename after fsync. A crash at any point leaves either nothing or a
temporary file that the reconcile step removes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any

INCOMING = ".incoming"


class HashingFile:
    """A write-only temporary file that hashes and counts what is written to it."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by owner
            dir=directory, prefix="upload-", delete=False
        )
        self.path = Path(self._file.name)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, data: bytes) -> int:
        if len(self.head) < 512:
            self.head += data[: 512 - len(self.head)]
        self.sha256.update(data)
        self.size += len(data)
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
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def finish(self) -> None:
        """Flush and fsync, so that a rename after this cannot expose a partial file."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class LocalStorage:
    """Files on the media volume under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / INCOMING

    def path_for(self, file_id: uuid.UUID) -> Path:
        name = file_id.hex
        return self.root / name[:2] / name[2:4] / name

    def new_upload(self) -> HashingFile:
        return HashingFile(self.incoming)

    def place(self, upload: HashingFile, file_id: uuid.UUID) -> Path:
        """Move a finished upload to its final path atomically (and durably)."""
        upload.finish()
        target = self.path_for(file_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(upload.path, target)
        _fsync_dir(target.parent)
        return target

    def delete(self, file_id: uuid.UUID) -> None:
        self.path_for(file_id).unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
