"""The media worker as an operator runs it: live, registered with its queue, running the
prune it is given, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from media_service.queue import QUEUE
from media_service.storage import LocalStorage
from tests.conftest import TEST_SECRETS
from tests.support.media import store_files
from tests.support.workers import running_worker

PRUNED_WITHIN_SECONDS = 20


def worker_env(settings):
    return {
        **TEST_SECRETS,
        "DATABASE_URL": settings.database_url,
        "FROTA_VAR_DIR": str(settings.var_dir),
        "MEDIA_ROOT": str(settings.media_root),
        "MEDIA_QUOTA_MB": str(settings.media_quota_mb),
        "LOG_LEVEL": "WARNING",
    }


def file_ids_on_volume(storage):
    return {uuid.UUID(hex=path.name) for path in storage.stored_files()}


@pytest.mark.timeout(90)
def test_the_media_worker_runs_a_prune_tick_and_stops_on_sigterm(
    tmp_path, committed_database, committed_settings
):
    storage = LocalStorage(committed_settings.media_root)
    with committed_database.sessionmaker() as db_session:
        store_files(db_session, storage, 3, age=timedelta(days=61))
        held = store_files(db_session, storage, 1, age=timedelta(days=61), held=True)

    with running_worker("media", worker_env(committed_settings), tmp_path) as worker:
        with committed_database.engine.connect() as conn:
            beating = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM media.procrastinate_workers"
                    " WHERE last_heartbeat > now() - interval '1 minute'"
                )
            )
        assert beating == 1
        # A tick of the periodic prune, as procrastinate defers it on the hour.
        with committed_database.sessionmaker() as db_session:
            QUEUE.defer(db_session, "prune", timestamp=int(time.time()))
            db_session.commit()

        deadline = time.monotonic() + PRUNED_WITHIN_SECONDS
        while file_ids_on_volume(storage) != set(held):
            assert time.monotonic() < deadline, worker.log.read_text()
            time.sleep(0.1)
        succeeded = {"service": "media", "task": "media.prune", "outcome": "succeeded"}
        while worker.metric("frota_jobs_total", **succeeded) != 1:
            assert time.monotonic() < deadline, worker.log.read_text()
            time.sleep(0.1)
        assert worker.metric("frota_job_queue_depth", service="media", state="due") == 0

    with committed_database.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM media.procrastinate_workers")) == 0
        # Succeeded: deleted as it finished (failed jobs stay until the purge).
        assert conn.scalar(sa.text("SELECT count(*) FROM media.procrastinate_jobs")) == 0
