"""Retention: pruning (batches, holds, high-water mark, crashes) and reconciliation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from frota.cli import main as frota
from media_service.jobs import prune_volume
from media_service.models import MediaFile, UploadReservation, VolumeUsage
from media_service.prune_job import prune_lock, run_scheduled_prune
from media_service.pruning import prune_media
from media_service.reconcile import reconcile_volume
from media_service.storage import LocalStorage
from shared.jobs import WorkerContext, WorkerMetrics
from tests.conftest import TEST_SECRETS
from tests.media.conftest import stored_files, usage_row
from tests.support.media import store_files

QUOTA = 10 * 1024 * 1024 * 1024


def rows(db_session, **where):
    stmt = sa.select(MediaFile.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(MediaFile, name) == value)
    return set(db_session.scalars(stmt))


def file_ids_on_volume(storage):
    return {uuid.UUID(hex=path.name) for path in storage.stored_files()}


def prune(db_session, storage, **kwargs):
    return prune_media(db_session=db_session, storage=storage, quota_bytes=QUOTA, **kwargs)


def assert_volume_agrees_with_rows(db_session, storage):
    report = reconcile_volume(db_session=db_session, storage=storage, grace=timedelta(0))
    assert report.problems == 0, report.summary()
    stored = db_session.scalar(sa.select(sa.func.coalesce(sa.func.sum(MediaFile.size), 0)))
    assert usage_row(db_session).used_bytes == stored


def test_prune_older_than_zero_days_removes_every_unheld_file_and_keeps_held_ones(
    db_session, storage
):
    old = store_files(db_session, storage, 5, age=timedelta(days=90))
    fresh = store_files(db_session, storage, 5, age=timedelta(minutes=1))
    held = store_files(db_session, storage, 3, age=timedelta(days=90), held=True)

    result = prune(db_session, storage, older_than_days=0)

    assert result.files == len(old) + len(fresh)
    assert result.bytes_freed == 16 * (len(old) + len(fresh))
    assert rows(db_session) == set(held)
    assert file_ids_on_volume(storage) == set(held)
    assert_volume_agrees_with_rows(db_session, storage)


def test_a_prune_that_runs_to_the_end_is_recorded_on_the_usage_row_a_dry_run_is_not(
    db_session, storage
):
    store_files(db_session, storage, 3, age=timedelta(days=90))
    before = datetime.now(UTC)

    prune(db_session, storage, dry_run=True)
    assert usage_row(db_session).last_pruned_at is None

    prune(db_session, storage, older_than_days=0)
    usage = usage_row(db_session)
    assert usage.last_pruned_at >= before
    assert (usage.last_prune_files, usage.last_prune_bytes) == (3, 3 * 16)


def test_prune_by_default_removes_only_files_past_their_expiry(db_session, storage):
    expired = store_files(db_session, storage, 4, age=timedelta(days=61))
    current = store_files(db_session, storage, 4, age=timedelta(days=59))

    result = prune(db_session, storage)

    assert result.files == len(expired)
    assert result.by_reason == {"expired": len(expired)}
    assert rows(db_session) == set(current)
    assert file_ids_on_volume(storage) == set(current)


def test_dry_run_changes_nothing_and_reports_what_would_go(db_session, storage):
    expired = store_files(db_session, storage, 3, age=timedelta(days=61))
    store_files(db_session, storage, 2, age=timedelta(days=1))
    store_files(db_session, storage, 2, age=timedelta(days=61), held=True)
    before = (rows(db_session), file_ids_on_volume(storage), usage_row(db_session).used_bytes)
    reported = []

    result = prune(db_session, storage, dry_run=True, report=lambda *file: reported.append(file))

    assert result.dry_run
    assert result.files == 3
    assert sorted(reported) == sorted((file_id, 16, "expired") for file_id in expired)
    assert "would delete 3 files" in result.summary()
    after = (rows(db_session), file_ids_on_volume(storage), usage_row(db_session).used_bytes)
    assert after == before


def test_over_the_high_water_mark_the_oldest_unheld_files_go_until_under_the_low_water_mark(
    db_session, storage
):
    # Ten files of 100 bytes against a 1000-byte quota: 100 % used, over the 90 %
    # mark. The two oldest unheld go (the very oldest is held): 80 % remains.
    by_age = [
        store_files(db_session, storage, 1, size=100, age=timedelta(days=days), held=days == 10)[0]
        for days in range(10, 0, -1)
    ]
    dry = prune_media(db_session=db_session, storage=storage, quota_bytes=1000, dry_run=True)
    assert dry.by_reason == {"high_water": 2}

    result = prune_media(db_session=db_session, storage=storage, quota_bytes=1000)

    assert result.by_reason == {"high_water": 2}
    assert rows(db_session) == {by_age[0], *by_age[3:]}
    assert usage_row(db_session).used_bytes == 800
    assert_volume_agrees_with_rows(db_session, storage)


def test_under_the_high_water_mark_nothing_young_is_pruned(db_session, storage):
    store_files(db_session, storage, 8, size=100, age=timedelta(days=1))
    result = prune_media(db_session=db_session, storage=storage, quota_bytes=1000)
    assert result.files == 0
    assert len(rows(db_session)) == 8


def test_prune_crashing_midway_leaves_no_row_without_its_file_and_the_next_run_finishes(
    db_session, storage, monkeypatch
):
    doomed = store_files(db_session, storage, 30, age=timedelta(days=90))
    held = store_files(db_session, storage, 2, age=timedelta(days=90), held=True)
    unlinked = []
    real_delete = storage.delete

    def delete_then_crash(file_id):
        if len(unlinked) == 17:
            raise RuntimeError("simulated crash while unlinking")
        real_delete(file_id)
        unlinked.append(file_id)

    monkeypatch.setattr(storage, "delete", delete_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        prune(db_session, storage, older_than_days=0, batch_size=10)
    db_session.rollback()
    monkeypatch.undo()

    # Every row the API can see still has its file; the rest are marked for deletion.
    visible = rows(db_session, deleting_at=None)
    assert visible <= file_ids_on_volume(storage)
    after_crash = reconcile_volume(db_session=db_session, storage=storage, grace=timedelta(0))
    assert (after_crash.orphan_files, after_crash.missing_files) == (0, 0)
    assert after_crash.unfinished_deletions == 10  # the batch that was being unlinked

    result = prune(db_session, storage, older_than_days=0, batch_size=10)

    assert result.files == len(doomed) - 10  # the first batch was done before the crash
    assert result.by_reason == {"unfinished": 10, "expired": 10}
    assert rows(db_session) == set(held)
    assert file_ids_on_volume(storage) == set(held)
    assert_volume_agrees_with_rows(db_session, storage)


def test_pruning_20000_files_runs_in_bounded_memory_and_reports_its_rate(db_session, storage):
    store_files(db_session, storage, 20_000, size=8, age=timedelta(days=90))

    tracemalloc.start()
    try:
        result = prune(db_session, storage, older_than_days=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.files == 20_000
    assert result.bytes_freed == 160_000
    assert result.files_per_second > 0
    assert "files/s" in result.summary()
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert rows(db_session) == set()
    assert list(storage.stored_files()) == []
    assert usage_row(db_session).used_bytes == 0
    print(f"\n{result.summary()}; peak traced memory {peak / 1e6:.1f} MB")


def test_reconcile_reports_and_fixes_what_disagrees(db_session, storage):
    kept = store_files(db_session, storage, 3, age=timedelta(days=1))
    lost = store_files(db_session, storage, 1, size=50, age=timedelta(days=1))[0]
    storage.path_for(lost).unlink()
    two_hours_ago = time.time() - 7200

    def old_file(path, content=b"junk"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (two_hours_ago, two_hours_ago))
        return path

    orphan = old_file(storage.path_for(uuid.uuid4()), b"orphan!")
    stranger = old_file(storage.root / "ab" / "cd" / "notes.txt")
    stale_upload = old_file(storage.incoming / "upload-dead")
    live_upload = storage.incoming / "upload-live"
    live_upload.write_bytes(b"still streaming")
    orphan_thumbnail = old_file(storage.thumbnail_path(uuid.uuid4(), 320))
    kept_thumbnail = old_file(storage.thumbnail_path(kept[0], 320))
    two_hours = datetime.now(UTC) - timedelta(hours=2)
    db_session.add(UploadReservation(bytes=1000, created_at=two_hours, renewed_at=two_hours))
    # A reservation made long ago whose upload is still sending: not stale.
    db_session.add(UploadReservation(bytes=0, created_at=two_hours))
    db_session.execute(
        sa.update(VolumeUsage).values(
            used_bytes=VolumeUsage.used_bytes + 7, reserved_bytes=VolumeUsage.reserved_bytes + 1000
        )
    )
    db_session.commit()

    found = reconcile_volume(db_session=db_session, storage=storage)

    assert (found.orphan_files, found.orphan_bytes) == (2, len(b"orphan!") + len(b"junk"))
    assert found.missing_files == 1
    assert found.stale_uploads == 1
    assert found.orphan_thumbnails == 1
    assert found.stale_reservations == 1
    assert found.usage_drift_bytes == 7
    assert all(p.exists() for p in (orphan, stranger, stale_upload, orphan_thumbnail))
    assert lost in rows(db_session)

    fixed = reconcile_volume(db_session=db_session, storage=storage, fix=True)

    assert fixed.problems == found.problems
    assert not any(p.exists() for p in (orphan, stranger, stale_upload, orphan_thumbnail))
    assert live_upload.exists()
    assert kept_thumbnail.exists()
    assert rows(db_session) == set(kept)
    usage = usage_row(db_session)
    assert (usage.used_bytes, usage.reserved_bytes) == (3 * 16, 0)
    assert reconcile_volume(db_session=db_session, storage=storage).problems == 0


def test_only_one_prune_runs_at_a_time(committed_database, committed_settings):
    storage = LocalStorage(committed_settings.media_root)
    context = worker_context(committed_settings, committed_database)
    with prune_lock(committed_database.engine) as first:
        assert first
        with prune_lock(committed_database.engine) as second:
            assert not second
        skipped = run_scheduled_prune(
            database=committed_database, storage=storage, quota_bytes=QUOTA
        )
        assert skipped is None
        # The worker's scheduled prune waits for its next tick too.
        assert prune_volume(context) is None
    with prune_lock(committed_database.engine) as again:
        assert again


def worker_context(settings, database):
    """What the media worker's tasks get (shared.jobs.run_worker makes it)."""
    return WorkerContext(settings, database, WorkerMetrics("media"))


def test_the_scheduled_prune_deletes_what_retention_lets_go(committed_database, committed_settings):
    storage = LocalStorage(committed_settings.media_root)
    with committed_database.sessionmaker() as db_session:
        store_files(db_session, storage, 5, age=timedelta(days=61))
        held = store_files(db_session, storage, 1, age=timedelta(days=61), held=True)
        current = store_files(db_session, storage, 2, age=timedelta(days=1))

    result = prune_volume(worker_context(committed_settings, committed_database))

    assert result is not None
    assert (result.files, result.by_reason["expired"]) == (5, 5)
    assert file_ids_on_volume(storage) == set(held + current)
    with committed_database.sessionmaker() as db_session:
        assert rows(db_session) == set(held + current)
        assert usage_row(db_session).last_prune_files == 5


def cli_env(settings):
    return {
        **TEST_SECRETS,
        "DATABASE_URL": settings.database_url,
        "MEDIA_ROOT": str(settings.media_root),
        "FROTA_VAR_DIR": str(settings.var_dir),
        "MEDIA_QUOTA_MB": str(settings.media_quota_mb),
    }


def test_cli_prune_dry_run_then_prune_then_reconcile(committed_database, committed_settings):
    storage = LocalStorage(committed_settings.media_root)
    with committed_database.sessionmaker() as db_session:
        doomed = store_files(db_session, storage, 3, age=timedelta(days=2))
        held = store_files(db_session, storage, 1, age=timedelta(days=2), held=True)
    runner = CliRunner()
    env = cli_env(committed_settings)

    dry = runner.invoke(frota, ["media", "prune", "--dry-run", "--older-than-days", "1"], env=env)
    assert dry.exit_code == 0, dry.output
    for file_id in doomed:
        assert f"would delete {file_id} (16 bytes): expired" in dry.output
    assert "would delete 3 files" in dry.output
    assert file_ids_on_volume(storage) == set(doomed + held)

    real = runner.invoke(frota, ["media", "prune", "--older-than-days", "1"], env=env)
    assert real.exit_code == 0, real.output
    assert "deleted 3 files" in real.output
    assert "files/s" in real.output
    assert file_ids_on_volume(storage) == set(held)

    clean = runner.invoke(frota, ["media", "reconcile"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "0 orphan files" in clean.output

    orphan = storage.path_for(uuid.uuid4())
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody's")
    os.utime(orphan, (time.time() - 7200,) * 2)
    found = runner.invoke(frota, ["media", "reconcile"], env=env)
    assert found.exit_code == 1
    assert "1 orphan files" in found.output
    fixed = runner.invoke(frota, ["media", "reconcile", "--fix"], env=env)
    assert fixed.exit_code == 0
    assert not orphan.exists()


def test_cli_prune_refuses_to_run_beside_another_prune(committed_database, committed_settings):
    with prune_lock(committed_database.engine):
        result = CliRunner().invoke(frota, ["media", "prune"], env=cli_env(committed_settings))
    assert result.exit_code == 1
    assert "another prune is running" in result.output


# Prune in a child process, slowed down per file so that it can be killed midway.
SLOW_PRUNE = """
import time
from frota.cli import main as frota
from media_service.storage import LocalStorage

unlink = LocalStorage.delete

def slow_unlink(self, file_id):
    time.sleep(0.002)
    unlink(self, file_id)

LocalStorage.delete = slow_unlink
frota(["media", "prune", "--older-than-days", "0", "--batch-size", "50"])
"""


def test_prune_killed_with_sigkill_midway_leaves_nothing_the_next_run_cannot_finish(
    committed_database, committed_settings
):
    storage = LocalStorage(committed_settings.media_root)
    with committed_database.sessionmaker() as db_session:
        doomed = store_files(db_session, storage, 1000, age=timedelta(days=90))
        held = store_files(db_session, storage, 5, age=timedelta(days=90), held=True)

    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_PRUNE],
        env={**os.environ, **cli_env(committed_settings)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(file_ids_on_volume(storage)) > len(doomed) - 120:
            assert time.monotonic() < deadline, "prune never got going"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    remaining = file_ids_on_volume(storage)
    assert set(held) < remaining
    assert len(remaining) > len(held), "prune finished before it could be killed"

    with committed_database.sessionmaker() as db_session:
        visible = rows(db_session, deleting_at=None)
        assert visible <= remaining
        after_kill = reconcile_volume(db_session=db_session, storage=storage, grace=timedelta(0))
        assert (after_kill.orphan_files, after_kill.missing_files) == (0, 0)

        prune_media(db_session=db_session, storage=storage, quota_bytes=QUOTA, older_than_days=0)

        assert rows(db_session) == set(held)
        assert file_ids_on_volume(storage) == set(held)
        assert_volume_agrees_with_rows(db_session, storage)
    assert [p for p in stored_files(storage.root) if ".incoming" in p.parts] == []
