"""The schedules of the workers' periodic tasks, and the nightly purge of finished jobs."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import croniter  # type: ignore[import-untyped]  # procrastinate's cron parser; no stubs
import procrastinate
import pytest
import sqlalchemy as sa

from shared.config import ConfigError, Settings
from shared.jobs import cron_every, purge_finished_jobs

INTERVALS = (1, 2, 5, 10, 15, 30, 60, 120, 360, 720, 1440)


@pytest.mark.parametrize("minutes", INTERVALS)
def test_a_task_every_n_minutes_runs_every_n_minutes_all_day(minutes):
    ticks = croniter.croniter(cron_every(minutes), datetime(2025, 3, 1, tzinfo=UTC))
    times = [ticks.get_next(float) for _ in range(2 * 1440 // minutes + 1)]

    assert {b - a for a, b in itertools.pairwise(times)} == {minutes * 60.0}


@pytest.mark.parametrize("minutes", ["0", "20", "240"])
def test_a_prune_interval_with_a_cron_is_accepted(tmp_path, minutes):
    env = {"FROTA_VAR_DIR": str(tmp_path), "MEDIA_PRUNE_INTERVAL_MINUTES": minutes}

    assert Settings.from_env(env).media_prune_interval_minutes == int(minutes)


@pytest.mark.parametrize("minutes", ["-1", "45", "90", "300"])
def test_a_prune_interval_without_a_cron_is_refused(tmp_path, minutes):
    env = {"FROTA_VAR_DIR": str(tmp_path), "MEDIA_PRUNE_INTERVAL_MINUTES": minutes}

    with pytest.raises(ConfigError, match="MEDIA_PRUNE_INTERVAL_MINUTES must divide an hour"):
        Settings.from_env(env)


def add_job(conn: sa.Connection, status: str, days_ago: int) -> int:
    """A job of the media queue that reached ``status`` ``days_ago`` (its events moved back)."""
    job_id = conn.scalar(
        sa.text(
            "INSERT INTO media.procrastinate_jobs (queue_name, task_name, args)"
            " VALUES ('media', 'media.prune', '{}') RETURNING id"
        )
    )
    if status != "todo":
        conn.execute(
            sa.text(
                "UPDATE media.procrastinate_jobs SET status = CAST(:status AS"
                " media.procrastinate_job_status) WHERE id = :id"
            ),
            {"status": status, "id": job_id},
        )
    conn.execute(
        sa.text(
            "UPDATE media.procrastinate_events SET at = at - make_interval(days => :days)"
            " WHERE job_id = :id"
        ),
        {"days": days_ago, "id": job_id},
    )
    return int(job_id)


def test_the_purge_deletes_jobs_finished_before_the_kept_days_only(engine, database_url):
    with engine.begin() as conn:
        jobs = {
            "old failed": add_job(conn, "failed", 31),
            "old cancelled": add_job(conn, "cancelled", 31),
            "old aborted": add_job(conn, "aborted", 31),
            "recent failed": add_job(conn, "failed", 29),
            "old, still to do": add_job(conn, "todo", 31),
        }
    connector = procrastinate.PsycopgConnector(
        conninfo=database_url, kwargs={"options": "-c search_path=media"}
    )
    app = procrastinate.App(connector=connector)

    async def purge() -> None:
        async with app.open_async():
            await purge_finished_jobs(app, "media", keep_days=30)

    try:
        asyncio.run(purge())
        with engine.connect() as conn:
            left = set(
                conn.scalars(
                    sa.text("SELECT id FROM media.procrastinate_jobs WHERE id = ANY(:ids)"),
                    {"ids": list(jobs.values())},
                )
            )
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM media.procrastinate_jobs WHERE id = ANY(:ids)"),
                {"ids": list(jobs.values())},
            )

    assert {name for name, job_id in jobs.items() if job_id in left} == {
        "recent failed",
        "old, still to do",
    }
