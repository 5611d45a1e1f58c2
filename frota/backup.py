"""`frota backup` and `frota restore`: the database and the media files as one consistent set.

A backup is three files sharing a name, e.g. ``frota_backup_20250301_020000``:

- ``.sql.gz``: pg_dump of the whole database (plain SQL, gzip), without owners
  or grants, so it loads on any server; `frota restore` grants the roles again;
- ``.media.tar``: the files the dump's ``media.files`` rows name, at their
  paths under MEDIA_ROOT (thumbnails are a cache and are not kept);
- ``.manifest.json``: the sha256 of both files and of every media file. It is
  written last: a backup without one is incomplete.

Consistency: one REPEATABLE READ transaction exports its snapshot; pg_dump
reads the database through that snapshot, and the list of media files comes
from the same snapshot. Meanwhile the backup holds the media prune lock, so
pruning cannot delete a listed file before it is copied. Files go on being
uploaded and deleted through the API, though:

- an upload commits its row after its file is in place: a row in the
  snapshot has its file on disk, and a file whose row came later is not listed;
- a deletion marks its row (committed), unlinks the file, then deletes the
  row. A row the snapshot saw unmarked may have lost its file by the time it
  is copied: it is listed in the manifest's ``missing_media``. A row the
  snapshot saw marked is invisible to the API and its file is not copied.

So the restore, in the same transaction as the dump, deletes the rows of
``missing_media`` and the marked ones, deletes the reservations of the
uploads that were in flight, and recomputes the usage row from the rows it
kept: the restored set has no row without its file and reserves nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg2
from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ

from frota import pg_tools
from frota.database import MIGRATION_TREES
from media_service.prune_job import PRUNE_LOCK_KEY
from media_service.storage import LocalStorage

# UTC, so that names sort in time order whatever the clock changes do.
NAME_FORMAT = "frota_backup_%Y%m%d_%H%M%S"
BACKUP_FILE = re.compile(
    r"(?P<name>frota_backup_\d{8}_\d{6})\.(sql\.gz|media\.tar|manifest\.json)(\.partial)?"
)
# The only member names a media archive may hold: the sharded layout of LocalStorage.
MEDIA_MEMBER = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}")
MANIFEST_FORMAT = 1
CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """A backup could not be made, or a backup is refused for restoring."""


@dataclass(frozen=True)
class Backup:
    """The files of one backup, by directory and name."""

    directory: Path
    name: str

    @property
    def dump(self) -> Path:
        return self.directory / f"{self.name}.sql.gz"

    @property
    def media(self) -> Path:
        return self.directory / f"{self.name}.media.tar"

    @property
    def manifest(self) -> Path:
        return self.directory / f"{self.name}.manifest.json"

    @property
    def created_at(self) -> datetime:
        return datetime.strptime(self.name, NAME_FORMAT).replace(tzinfo=UTC)

    @classmethod
    def at(cls, path: Path) -> Backup:
        """The backup any of its files (or its name) belongs to."""
        match = BACKUP_FILE.fullmatch(path.name) or re.fullmatch(
            r"(?P<name>frota_backup_\d{8}_\d{6})", path.name
        )
        if match is None:
            raise BackupError(f"{path} is not a Frota backup (frota_backup_YYYYMMDD_HHMMSS.*)")
        return cls(path.parent, match["name"])


@dataclass(frozen=True)
class BackupSummary:
    backup: Backup
    media_files: int
    # Rows whose file was gone when it was copied (deleted through the API meanwhile).
    missing_media: list[str]


# --- backup ---------------------------------------------------------------------------


def create_backup(
    *, database_url: str, media_root: Path, directory: Path, now: datetime | None = None
) -> BackupSummary:
    """Write a consistent backup of the database and the media files into ``directory``."""
    backup = Backup(directory, (now or datetime.now(UTC)).strftime(NAME_FORMAT))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if backup.manifest.exists():
        raise BackupError(f"{backup.manifest} already exists")
    dump_partial = _partial(backup.dump)
    media_partial = _partial(backup.media)
    try:
        return _write_backup(backup, database_url, media_root, dump_partial, media_partial)
    finally:
        dump_partial.unlink(missing_ok=True)
        media_partial.unlink(missing_ok=True)


def _write_backup(
    backup: Backup, database_url: str, media_root: Path, dump_partial: Path, media_partial: Path
) -> BackupSummary:
    conn = psycopg2.connect(database_url)
    try:
        # Taken before the snapshot, outside it: a prune that is running ends
        # first, and the snapshot then sees what it left. A prune stuck for
        # longer than the timeout fails the backup rather than hanging it.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '15min'")
            cur.execute("SELECT pg_advisory_lock(%s)", (PRUNE_LOCK_KEY,))
        conn.autocommit = False
        conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version_num')")
            snapshot, server_version = cur.fetchone()
            # Rows marked for deletion are invisible to the API already: their
            # files are not copied, and the restore drops the rows.
            cur.execute("SELECT id FROM media.files WHERE deleting_at IS NULL ORDER BY id")
            file_ids = [str(file_id) for (file_id,) in cur.fetchall()]
            # The exported snapshot lives as long as this transaction: dump inside it.
            pg_dump = _dump_database(database_url, snapshot, int(server_version), dump_partial)
        conn.rollback()
        media_files, missing = _archive_media(file_ids, media_root, media_partial)
    finally:
        conn.close()  # also releases the prune lock
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": backup.name,
        "created_at": backup.created_at.isoformat(),
        "postgresql": {"server_version_num": int(server_version), "pg_dump_major": pg_dump},
        "database": {"file": backup.dump.name, "sha256": _sha256_of(dump_partial)},
        "media": {
            "file": backup.media.name,
            "sha256": _sha256_of(media_partial),
            "files": media_files,
        },
        "missing_media": missing,
    }
    dump_partial.rename(backup.dump)
    media_partial.rename(backup.media)
    _write_atomically(backup.manifest, json.dumps(manifest, indent=2, sort_keys=True))
    return BackupSummary(backup, len(media_files), missing)


def _dump_database(database_url: str, snapshot: str, server_version: int, target: Path) -> int:
    pg_dump = pg_tools.find_pg_dump(server_version // 10000)
    dsn, env = pg_tools.connection_for(database_url, "frota-backup")
    command = [
        str(pg_dump.path),
        f"--dbname={dsn}",
        f"--snapshot={snapshot}",
        "--format=plain",
        "--no-owner",
        "--no-privileges",
        "--no-password",
    ]
    with (
        tempfile.TemporaryFile() as errors,
        _private_file(target) as file,
        gzip.GzipFile(fileobj=file, mode="wb", compresslevel=6) as out,
    ):
        # stderr goes to a file: a pipe nobody reads could fill up and stall pg_dump.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)  # noqa: S603
        assert proc.stdout is not None
        with proc.stdout:
            shutil.copyfileobj(proc.stdout, out, CHUNK)
        if proc.wait() != 0:
            raise BackupError(f"pg_dump failed: {_tail(errors)}")
    _fsync(target)
    return pg_dump.major


def _archive_media(
    file_ids: Iterable[str], media_root: Path, target: Path
) -> tuple[dict[str, str], list[str]]:
    storage = LocalStorage(media_root)
    files: dict[str, str] = {}
    missing: list[str] = []
    with (
        _private_file(target) as file,
        tarfile.open(fileobj=file, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for file_id in file_ids:
            path = storage.path_for(uuid.UUID(file_id))
            try:
                source = path.open("rb")
            except FileNotFoundError:
                # Deleted through the API since the snapshot (or lost before it):
                # the restore drops the row.
                missing.append(file_id)
                continue
            with source:
                member = tar.gettarinfo(
                    arcname=path.relative_to(media_root).as_posix(), fileobj=source
                )
                member.uid = member.gid = 0
                member.uname = member.gname = ""
                reader = _HashingReader(source)
                tar.addfile(member, reader)
                files[member.name] = reader.sha256.hexdigest()
    _fsync(target)
    return files, missing


class _HashingReader:
    """A file reader that hashes what tarfile copies out of it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.sha256.update(data)
        return data


def prune_backups(directory: Path, keep_days: int, now: datetime | None = None) -> list[str]:
    """Delete the backups (and leftovers of failed ones) older than ``keep_days``; their names."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    removed = set()
    for path in directory.iterdir():
        match = BACKUP_FILE.fullmatch(path.name)
        if match and Backup(directory, match["name"]).created_at < cutoff:
            path.unlink()
            removed.add(match["name"])
    return sorted(removed)


# --- verification ---------------------------------------------------------------------


def verify_backup(backup: Backup) -> dict[str, Any]:
    """Check the backup against its manifest; return the manifest, or raise BackupError.

    Reads every byte of both files and changes nothing.
    """
    if not backup.manifest.exists():
        raise BackupError(f"{backup.manifest} is missing: the backup is incomplete")
    try:
        manifest = json.loads(backup.manifest.read_text())
    except ValueError as exc:
        raise BackupError(f"{backup.manifest} is not valid JSON: {exc}") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{backup.manifest}: unknown manifest format {manifest.get('format')!r}")
    for path, expected in (
        (backup.dump, manifest["database"]["sha256"]),
        (backup.media, manifest["media"]["sha256"]),
    ):
        if not path.exists():
            raise BackupError(f"{path} is missing")
        if _sha256_of(path) != expected:
            raise BackupError(
                f"{path.name} does not match the manifest (sha256 differs): "
                "the backup is damaged or was altered"
            )
    for file_id in manifest.get("missing_media", []):
        try:
            uuid.UUID(str(file_id))
        except ValueError:
            raise BackupError(f"{backup.manifest}: {file_id!r} is not a file id") from None
    with tarfile.open(backup.media) as tar:
        names = [_checked_member(member).name for member in tar]
    if sorted(names) != sorted(manifest["media"]["files"]):
        raise BackupError(f"{backup.media.name} does not hold the files its manifest lists")
    return manifest


def _checked_member(member: tarfile.TarInfo) -> tarfile.TarInfo:
    # Only plain files at the storage layout's paths: no links, no `..`, no absolute names.
    if not (member.isreg() and MEDIA_MEMBER.fullmatch(member.name)):
        raise BackupError(f"unexpected entry {member.name!r} in the media archive")
    return member


# --- restore --------------------------------------------------------------------------


def restore_backup(
    *, backup: Backup, manifest: dict[str, Any], database_url: str, media_root: Path
) -> None:
    """Replace the database and the media files with the backup's.

    ``manifest`` is what :func:`verify_backup` returned. The files are first
    unpacked (and their sha256 checked) next to the volume, then the database
    is restored in one transaction, and only then do the files move into
    place. A failure before that last step leaves the database and the volume
    as they were.
    """
    staging = LocalStorage(media_root).incoming / f"restore-{secrets.token_hex(8)}"
    try:
        _unpack_media(backup, manifest, staging)
        _restore_database(backup, manifest, database_url)
        _replace_media(staging, manifest, media_root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack_media(backup: Backup, manifest: dict[str, Any], staging: Path) -> None:
    expected = manifest["media"]["files"]
    with tarfile.open(backup.media) as tar:
        for member in tar:
            _checked_member(member)
            target = staging / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # a regular file, checked above
            digest = hashlib.sha256()
            with source, _private_file(target) as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != expected.get(member.name):
                raise BackupError(f"media file {member.name} does not match the manifest")
            os.utime(target, (member.mtime, member.mtime))


def _restore_database(backup: Backup, manifest: dict[str, Any], database_url: str) -> None:
    conn = psycopg2.connect(database_url)
    server_major = conn.server_version // 10000
    conn.close()
    source_major = manifest["postgresql"]["server_version_num"] // 10000
    if source_major > server_major:
        raise BackupError(
            f"the backup comes from PostgreSQL {source_major}; it cannot be restored into "
            f"PostgreSQL {server_major}"
        )
    psql = pg_tools.find_psql(at_least=manifest["postgresql"]["pg_dump_major"])
    dsn, env = pg_tools.connection_for(database_url, "frota-restore")
    command = [
        str(psql.path),
        f"--dbname={dsn}",
        "--no-psqlrc",
        "--quiet",
        "--no-password",
        "--set=ON_ERROR_STOP=1",
        "--file=-",
    ]
    schemas = ", ".join(MIGRATION_TREES)
    with tempfile.TemporaryFile() as errors:
        # One transaction (--single-transaction): the old schemas are dropped
        # and the dump loaded, or on any error nothing changes at all.
        proc = subprocess.Popen(  # noqa: S603
            [*command, "--single-transaction"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=env,
        )
        assert proc.stdin is not None
        try:
            with proc.stdin, gzip.open(backup.dump) as dump:
                proc.stdin.write(f"DROP SCHEMA IF EXISTS {schemas} CASCADE;\n".encode())
                shutil.copyfileobj(dump, proc.stdin, CHUNK)
                proc.stdin.write(_media_rows_as_restored(manifest).encode())
                proc.stdin.write(REVOCATIONS_AS_RESTORED.encode())
        except BrokenPipeError:
            pass  # psql stopped at an error: its exit status and stderr tell
        if proc.wait() != 0:
            raise BackupError(
                f"restoring the database failed, nothing was changed: {_tail(errors)}"
            )


def _media_rows_as_restored(manifest: dict[str, Any]) -> str:
    """SQL run after the dump, in its transaction: only rows whose files are in the backup.

    Drops the rows whose files were deleted while the backup ran
    (``missing_media``) and those already marked for deletion, the
    reservations of uploads that were in flight, and sets the usage row to
    the sum of what is left (see the module docstring).
    """
    # verify_backup checked these are UUIDs; uuid.UUID() formats them: nothing else
    # reaches the SQL text.
    missing = ",".join(str(uuid.UUID(file_id)) for file_id in manifest.get("missing_media", []))
    return f"""
DO $restore$ BEGIN
  IF to_regclass('media.files') IS NOT NULL THEN
    DELETE FROM media.files
      WHERE deleting_at IS NOT NULL OR id = ANY('{{{missing}}}'::uuid[]);
    DELETE FROM media.reservations;
    UPDATE media.usage
      SET used_bytes = (SELECT coalesce(sum(size), 0) FROM media.files), reserved_bytes = 0;
  END IF;
END $restore$;
"""  # noqa: S608


# Redis may hold a revocation version from before the restore, above the restored
# one: the gateway would take it as complete and miss the next revocation whose
# publish fails. Raising the restored version past any count of revocations
# (a millisecond clock) makes Redis "behind", so the gateway reloads it from
# PostgreSQL before believing it again.
REVOCATIONS_AS_RESTORED = """
DO $restore$ BEGIN
  IF to_regclass('auth.revocation_version') IS NOT NULL THEN
    UPDATE auth.revocation_version
      SET version = greatest(version + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
  END IF;
END $restore$;
"""


def _replace_media(staging: Path, manifest: dict[str, Any], media_root: Path) -> None:
    """Move the unpacked files into place; remove what the restored database does not know."""
    storage = LocalStorage(media_root)
    keep = set(manifest["media"]["files"])
    for stored in list(storage.stored_files()):
        if stored.relative_to(media_root).as_posix() not in keep:
            stored.unlink()
    shutil.rmtree(storage.thumbnails, ignore_errors=True)
    for name in keep:
        target = media_root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target)


# --- helpers --------------------------------------------------------------------------


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    partial = _partial(path)
    with _private_file(partial) as file:
        file.write(text.encode())
    _fsync(partial)
    partial.rename(path)


def _private_file(path: Path) -> IO[bytes]:
    # A backup holds every row, password hashes included: owner-only from the start.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _fsync(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


def _tail(errors: IO[bytes], limit: int = 2000) -> str:
    errors.seek(0)
    return errors.read().decode(errors="replace").strip()[-limit:]
