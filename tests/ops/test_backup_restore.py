"""`frota backup` / `frota restore`: a round trip gives back every row and every file;
a damaged or altered backup is refused before anything changes."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import socket
import stat
import tarfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner, Result
from psycopg2 import sql

import media_service
from frota.backup import Backup, prune_backups
from frota.cli import main as frota
from frota.roles import service_database_urls, service_roles
from media_service.models import MediaFile, UploadReservation, VolumeUsage
from media_service.reconcile import reconcile_volume
from media_service.storage import LocalStorage
from shared.config import Settings
from shared.db import Database, make_engine
from tests.media.conftest import MB, multipart
from tests.ops.conftest import ops_env
from tests.support import factories
from tests.support.database import scratch_database
from tests.support.files import jpeg_bytes, pdf_bytes, png_bytes
from tests.support.identity import ApiClient, gateway_credential
from tests.support.media import store_files
from tests.support.servers import serving

SCHEMAS = ("auth", "fleet", "media")


def run_frota(settings: Settings, *args: str) -> Result:
    env = ops_env(settings.var_dir.parent, settings.database_url or "", settings.db_role_prefix)
    return CliRunner().invoke(frota, list(args), env=env)


def owner_execute(settings: Settings, statement: str, params: tuple[str, ...] = ()) -> None:
    conn = psycopg2.connect(settings.database_url or "")
    with conn, conn.cursor() as cur:
        cur.execute(statement, params)
    conn.close()


def fill_with_data(settings: Settings) -> list[str]:
    """Rows in every schema, made by the services' own code; the ids of the uploaded files."""
    database = Database(make_engine(settings.database_url or "", settings))
    try:
        with database.sessionmaker() as session:
            manager = factories.make_user(session, role="manager", full_name="Ana Souza")
            driver = factories.make_driver(session, full_name="João Pereira")
            vehicle = factories.make_vehicle(session)
            factories.make_vehicle(session, model="Toro")
            factories.make_assignment(session, vehicle=vehicle, driver=driver)
        media_api = ApiClient(
            media_service.create_app(settings, database=database),
            "media",
            settings.internal_secret_key,
        )
        file_ids = []
        for name, data in [("a.jpg", jpeg_bytes()), ("b.png", png_bytes()), ("c.pdf", pdf_bytes())]:
            response = media_api.post(
                "/api/v1/media/files",
                user=str(manager.id),
                role="manager",
                data={"file": (io.BytesIO(data), name)},
                content_type="multipart/form-data",
            )
            created = response.json
            assert response.status_code == 201, created
            assert created is not None
            file_ids.append(created["id"])
        # A cached thumbnail: a cache, not part of the backup.
        thumbnail = media_api.get(
            f"/api/v1/media/files/{file_ids[0]}/thumbnail", user=str(manager.id), role="manager"
        )
        assert thumbnail.status_code == 200
    finally:
        database.engine.dispose()
    return file_ids


# The restore raises it on purpose (test_a_restore_raises_the_revocation_version_...).
NOT_RESTORED_AS_IS = {("auth", "revocation_version")}


def table_checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    """Row count and md5 of all rows (in a fixed order) of every table of the three schemas.

    Leaves out the tables the restore changes on purpose (NOT_RESTORED_AS_IS).
    """
    conn = psycopg2.connect(settings.database_url or "")
    checksums = {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
            (list(SCHEMAS),),
        )
        for schema, table in cur.fetchall():
            if (schema, table) in NOT_RESTORED_AS_IS:
                continue
            cur.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text),"
                    " '')) FROM {} AS t"
                ).format(sql.Identifier(schema, table))
            )
            checksums[f"{schema}.{table}"] = cur.fetchone()
    conn.close()
    return checksums


def media_checksums(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in LocalStorage(root).stored_files()
    }


def only_backup(directory: Path) -> Backup:
    (manifest,) = directory.glob("*.manifest.json")
    return Backup.at(manifest)


# --- round trip -----------------------------------------------------------------------


def test_backup_then_drop_everything_then_restore_gives_back_identical_rows_and_files(
    ops_settings, tmp_path
):
    file_ids = fill_with_data(ops_settings)
    rows_before = table_checksums(ops_settings)
    files_before = media_checksums(ops_settings.media_root)
    assert len(files_before) == 3
    assert all(count > 0 for count, _ in (rows_before[t] for t in ("auth.users", "media.files")))

    made = run_frota(ops_settings, "backup", "--dir", str(tmp_path / "backups"))
    assert made.exit_code == 0, made.output
    backup = only_backup(tmp_path / "backups")
    for path in (backup.dump, backup.media, backup.manifest):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is readable by others"
    manifest = json.loads(backup.manifest.read_text())
    assert sorted(Path(name).name for name in manifest["media"]["files"]) == sorted(
        file_id.replace("-", "") for file_id in file_ids
    )

    owner_execute(ops_settings, "DROP SCHEMA auth, fleet, media CASCADE")
    shutil.rmtree(ops_settings.media_root)
    assert table_checksums(ops_settings) == {}

    restored = run_frota(ops_settings, "restore", str(backup.dump), "--yes")

    assert restored.exit_code == 0, restored.output
    assert table_checksums(ops_settings) == rows_before
    assert media_checksums(ops_settings.media_root) == files_before
    # The service roles have their grants back (the dump carries none).
    conn = psycopg2.connect(ops_settings.database_url or "")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT has_table_privilege(%s, 'fleet.vehicles', 'SELECT, INSERT'), "
            "has_schema_privilege(%s, 'auth', 'USAGE')",
            (ops_settings.database_role("fleet"), ops_settings.database_role("fleet")),
        )
        assert cur.fetchone() == (True, False)
    conn.close()


def revocation_version(settings: Settings) -> int:
    conn = psycopg2.connect(settings.database_url or "")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM auth.revocation_version")
        (version,) = cur.fetchone()
    conn.close()
    return version


def test_a_restore_raises_the_revocation_version_past_what_redis_may_still_hold(
    ops_settings, tmp_path
):
    # Redis keeps the version it was complete up to before the restore. Were the
    # restored version lower, the gateway would believe a Redis that missed the
    # next revocation; above it, the gateway reloads Redis from PostgreSQL.
    fill_with_data(ops_settings)
    assert run_frota(ops_settings, "backup", "--dir", str(tmp_path / "backups")).exit_code == 0
    owner_execute(ops_settings, "UPDATE auth.revocation_version SET version = version + 50")
    held_by_redis = revocation_version(ops_settings)

    restored = run_frota(
        ops_settings, "restore", str(only_backup(tmp_path / "backups").dump), "--yes"
    )

    assert restored.exit_code == 0, restored.output
    assert revocation_version(ops_settings) > held_by_redis


def test_a_backup_restores_into_a_new_empty_database(ops_settings, pg_server_url, tmp_path):
    # The disaster case: a new server (here a new database), nothing migrated, no extensions.
    fill_with_data(ops_settings)
    rows = table_checksums(ops_settings)
    assert run_frota(ops_settings, "backup", "--dir", str(tmp_path / "backups")).exit_code == 0
    backup = only_backup(tmp_path / "backups")

    with scratch_database(pg_server_url, "ops_new") as new_url:
        elsewhere = ops_settings.replace(database_url=new_url, var_dir=tmp_path / "new" / "var")
        restored = run_frota(elsewhere, "restore", str(backup.manifest), "--yes")

        assert restored.exit_code == 0, restored.output
        assert table_checksums(elsewhere) == rows
        assert media_checksums(tmp_path / "new" / "media") == media_checksums(
            ops_settings.media_root
        )


def test_restore_makes_the_volume_match_the_backup(ops_settings, tmp_path):
    fill_with_data(ops_settings)
    assert run_frota(ops_settings, "backup", "--dir", str(tmp_path)).exit_code == 0
    files_at_backup = media_checksums(ops_settings.media_root)
    later = LocalStorage(ops_settings.media_root).path_for(uuid.uuid4())
    later.parent.mkdir(parents=True)
    later.write_bytes(b"uploaded after the backup")

    restored = run_frota(ops_settings, "restore", str(only_backup(tmp_path).media), "--yes")

    assert restored.exit_code == 0, restored.output
    assert media_checksums(ops_settings.media_root) == files_at_backup
    assert not LocalStorage(ops_settings.media_root).thumbnails.exists()


# --- refusals -------------------------------------------------------------------------


def test_a_restore_is_refused_while_a_service_is_connected_to_the_database(ops_settings, tmp_path):
    fill_with_data(ops_settings)
    assert run_frota(ops_settings, "backup", "--dir", str(tmp_path)).exit_code == 0
    owner_execute(ops_settings, "DELETE FROM fleet.assignments")
    before = table_checksums(ops_settings)
    fleet_url = service_database_urls(ops_settings.database_url or "", service_roles(ops_settings))[
        "fleet"
    ]
    fleet = psycopg2.connect(fleet_url)  # what a running fleet service's pool holds
    try:
        refused = run_frota(ops_settings, "restore", str(only_backup(tmp_path).dump), "--yes")
    finally:
        fleet.close()

    assert refused.exit_code == 1
    role = ops_settings.database_role("fleet")
    assert f"the services are still connected to the database ({role}: 1 sessions)" in (
        refused.output
    )
    assert "nothing was changed" in refused.output
    assert table_checksums(ops_settings) == before


def flip_one_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("part", ["media", "dump"])
def test_a_backup_altered_by_one_byte_is_refused_and_nothing_changes(ops_settings, tmp_path, part):
    fill_with_data(ops_settings)
    assert run_frota(ops_settings, "backup", "--dir", str(tmp_path)).exit_code == 0
    backup = only_backup(tmp_path)
    target = getattr(backup, part)
    # In the middle of the file: inside a photo's bytes for the tar.
    flip_one_byte(target, target.stat().st_size // 2)
    # Changes made after the backup, which a restore would undo.
    owner_execute(ops_settings, "DELETE FROM fleet.assignments")
    LocalStorage(ops_settings.media_root).stored_files().__next__().unlink()
    rows_before = table_checksums(ops_settings)
    files_before = media_checksums(ops_settings.media_root)

    refused = run_frota(ops_settings, "restore", str(backup.manifest), "--yes")

    assert refused.exit_code != 0
    assert f"{target.name} does not match the manifest (sha256 differs)" in refused.output
    assert "nothing was changed" in refused.output
    assert table_checksums(ops_settings) == rows_before
    assert media_checksums(ops_settings.media_root) == files_before


def test_a_backup_without_its_manifest_is_refused(ops_settings, tmp_path):
    assert run_frota(ops_settings, "backup", "--dir", str(tmp_path)).exit_code == 0
    backup = only_backup(tmp_path)
    backup.manifest.unlink()

    refused = run_frota(ops_settings, "restore", str(backup.dump), "--yes")

    assert refused.exit_code != 0
    assert "the backup is incomplete" in refused.output


def test_an_archive_with_a_path_outside_the_volume_is_refused(tmp_path):
    backup = Backup(tmp_path, "frota_backup_20250101_020000")
    backup.dump.write_bytes(b"")
    evil = b"overwrites something"
    with tarfile.open(backup.media, "w") as tar:
        member = tarfile.TarInfo("../../etc/cron.d/evil")
        member.size = len(evil)
        tar.addfile(member, io.BytesIO(evil))
    sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (backup.dump, backup.media)}
    backup.manifest.write_text(
        json.dumps(
            {
                "format": 1,
                "name": backup.name,
                "postgresql": {"server_version_num": 160000, "pg_dump_major": 16},
                "database": {"file": backup.dump.name, "sha256": sha[backup.dump]},
                "media": {
                    "file": backup.media.name,
                    "sha256": sha[backup.media],
                    "files": {"../../etc/cron.d/evil": hashlib.sha256(evil).hexdigest()},
                },
            }
        )
    )

    refused = CliRunner().invoke(frota, ["verify-backup", str(backup.manifest)])

    assert refused.exit_code != 0
    assert "unexpected entry '../../etc/cron.d/evil'" in refused.output


# --- what a backup holds --------------------------------------------------------------


def test_a_file_missing_from_the_volume_is_reported_not_fatal(ops_settings, tmp_path):
    file_ids = fill_with_data(ops_settings)
    storage = LocalStorage(ops_settings.media_root)
    lost, being_deleted, kept = (storage.path_for(uuid.UUID(i)) for i in file_ids)
    lost.unlink()
    # A deletion in progress (row marked, file gone) is the prune's to finish: no warning.
    owner_execute(
        ops_settings, "UPDATE media.files SET deleting_at = now() WHERE id = %s", (file_ids[1],)
    )
    being_deleted.unlink()

    made = run_frota(ops_settings, "backup", "--dir", str(tmp_path))

    assert made.exit_code == 0, made.output
    assert f"1 media rows had no file on disk (run `frota media reconcile`): {file_ids[0]}" in (
        made.output
    )
    manifest = json.loads(only_backup(tmp_path).manifest.read_text())
    assert list(manifest["media"]["files"]) == [
        kept.relative_to(ops_settings.media_root).as_posix()
    ]
    assert manifest["missing_media"] == [file_ids[0]]


def test_backups_older_than_the_kept_days_are_deleted(tmp_path):
    now = datetime(2025, 3, 20, 2, 0, tzinfo=UTC)

    def files_of(age: timedelta, *suffixes: str) -> list[Path]:
        name = (now - age).strftime("frota_backup_%Y%m%d_%H%M%S")
        paths = [tmp_path / f"{name}{suffix}" for suffix in suffixes]
        for path in paths:
            path.write_bytes(b"")
        return paths

    complete = (".sql.gz", ".media.tar", ".manifest.json")
    old = files_of(timedelta(days=15), *complete)
    failed_long_ago = files_of(timedelta(days=20), ".sql.gz.partial")
    recent = files_of(timedelta(days=13, hours=23), *complete)
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("not ours")

    removed = prune_backups(tmp_path, keep_days=14, now=now)

    assert removed == sorted(Backup.at(p).name for p in (old[0], failed_long_ago[0]))
    assert sorted(tmp_path.iterdir()) == sorted([*recent, unrelated])


# --- a backup under load ----------------------------------------------------------------


def test_a_backup_taken_while_files_are_uploaded_and_deleted_restores_every_row_with_its_file(
    ops_settings, pg_server_url, tmp_path
):
    database = Database(make_engine(ops_settings.database_url or "", ops_settings))
    app = media_service.create_app(ops_settings, database=database)
    manager = str(uuid.uuid4())
    stop = threading.Event()
    stored: list[str] = []
    failures: list[str] = []

    def credential() -> dict[str, str]:
        return gateway_credential(
            ops_settings.internal_secret_key, "media", user_id=manager, role="manager"
        )

    def upload(url: str) -> None:
        body, content_type = multipart(jpeg_bytes(40_000))
        response = requests.post(
            f"{url}/api/v1/media/files",
            data=body,
            headers={**credential(), "Content-Type": content_type},
            timeout=30,
        )
        if response.status_code != 201:
            failures.append(response.text)
        else:
            stored.append(response.json()["id"])

    def keep_uploading(url: str) -> None:
        while not stop.is_set():
            upload(url)

    def keep_deleting(url: str) -> None:
        while not stop.is_set():
            if len(stored) < 50:
                time.sleep(0.005)
                continue
            file_id = stored.pop(random.randrange(len(stored)))
            response = requests.delete(
                f"{url}/api/v1/media/files/{file_id}", headers=credential(), timeout=30
            )
            if response.status_code != 204:
                failures.append(response.text)

    storage = LocalStorage(ops_settings.media_root)
    with database.sessionmaker() as db_session:
        made_earlier = store_files(db_session, storage, 300, size=40_000, age=timedelta(0))
    stored += [str(file_id) for file_id in made_earlier]

    def reservations_open() -> int:
        with database.sessionmaker() as db_session:
            return db_session.scalar(sa.select(sa.func.count()).select_from(UploadReservation))

    with serving(app) as url:
        # An upload in flight the whole time: its reservation is in the snapshot.
        address = urlsplit(url)
        body, content_type = multipart(jpeg_bytes(2 * MB))
        head = (
            f"POST /api/v1/media/files HTTP/1.1\r\nHost: {address.netloc}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in credential().items())
            + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection((address.hostname, address.port)) as in_flight:
            in_flight.sendall(head + body[: MB // 2])
            deadline = time.monotonic() + 10
            while reservations_open() == 0:
                assert time.monotonic() < deadline, "the upload in flight reserved nothing"
                time.sleep(0.02)
            workers = [threading.Thread(target=keep_uploading, args=(url,)) for _ in range(2)]
            workers += [threading.Thread(target=keep_deleting, args=(url,)) for _ in range(2)]
            for worker in workers:
                worker.start()
            try:
                made = run_frota(ops_settings, "backup", "--dir", str(tmp_path / "backups"))
            finally:
                stop.set()
                for worker in workers:
                    worker.join()
    database.engine.dispose()
    assert made.exit_code == 0, made.output
    assert failures == []
    manifest = json.loads(only_backup(tmp_path / "backups").manifest.read_text())
    # The race happened: rows the snapshot saw lost their files before they were copied.
    assert manifest["missing_media"], "no file was deleted while the backup ran"

    with scratch_database(pg_server_url, "ops_under_load") as new_url:
        elsewhere = ops_settings.replace(database_url=new_url, var_dir=tmp_path / "new" / "var")
        restored = run_frota(
            elsewhere, "restore", str(only_backup(tmp_path / "backups").manifest), "--yes"
        )
        assert restored.exit_code == 0, restored.output

        new_root = tmp_path / "new" / "media"
        restored_db = Database(make_engine(new_url, elsewhere))
        try:
            with restored_db.sessionmaker() as db_session:
                report = reconcile_volume(
                    db_session=db_session, storage=LocalStorage(new_root), grace=timedelta(0)
                )
                sizes = dict(db_session.execute(sa.select(MediaFile.id, MediaFile.size)).all())
                usage = db_session.execute(sa.select(VolumeUsage)).scalar_one()
                reservations = db_session.scalar(
                    sa.select(sa.func.count()).select_from(UploadReservation)
                )
        finally:
            restored_db.engine.dispose()

    assert report.problems == 0, report.summary()
    on_disk = {
        uuid.UUID(path.name): path.stat().st_size for path in LocalStorage(new_root).stored_files()
    }
    assert on_disk == sizes
    assert (usage.used_bytes, usage.reserved_bytes, reservations) == (sum(sizes.values()), 0, 0)
