"""The job queue on real PostgreSQL: jobs exist only when their transaction commits,
each service's jobs live in its schema, a periodic tick is deferred once however many
workers defer it, and the jobs of a dead worker go back to the queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from procrastinate.jobs import Job
from procrastinate.periodic import PeriodicDeferrer

from frota.database import migrate
from shared.config import Settings
from shared.db import Database, make_engine
from shared.jobs import (
    RETRY_UNAVAILABLE_SECONDS,
    STALLED_AFTER_SECONDS,
    Queue,
    WorkerMetrics,
    _worker_connector,
    probe_queue,
    retry_stalled_jobs,
)
from tests.support.database import scratch_database


@pytest.fixture(scope="module")
def committed(pg_server_url: str) -> Iterator[tuple[str, Database]]:
    """A migrated database of this module's own, whose commits stay (jobs are read back
    by other connections, as a worker reads them)."""
    with scratch_database(pg_server_url, "jobs") as url:
        migrate(url)
        database = Database(make_engine(url, Settings()))
        try:
            yield url, database
        finally:
            database.engine.dispose()


JOB_COLUMNS = ("id", "task_name", "queue_name", "status", "args", "scheduled_at", "worker_id")


def jobs_table(schema: str) -> sa.TableClause:
    return sa.table("procrastinate_jobs", *map(sa.column, JOB_COLUMNS), schema=schema)


@pytest.fixture(autouse=True)
def empty_queues(committed: tuple[str, Database]) -> None:
    with committed[1].engine.begin() as connection:
        for schema in ("fleet", "media"):
            connection.execute(sa.delete(jobs_table(schema)))
            connection.execute(sa.delete(sa.table("procrastinate_workers", schema=schema)))


def jobs_in(database: Database, schema: str) -> list[sa.Row]:
    table = jobs_table(schema)
    with database.engine.connect() as connection:
        return list(connection.execute(sa.select(table).order_by(table.c.id)))


def test_a_job_deferred_in_a_rolled_back_transaction_never_exists(committed):
    _, database = committed
    queue = Queue("fleet")
    with database.sessionmaker() as db_session:
        queue.defer(db_session, "something", n=1)
        db_session.rollback()
    assert jobs_in(database, "fleet") == []


def test_a_committed_job_is_in_its_services_schema_due_now_or_when_asked(committed):
    _, database = committed
    later = datetime.now(UTC) + timedelta(hours=1)
    before = datetime.now(UTC)
    with database.sessionmaker() as db_session:
        Queue("fleet").defer(db_session, "now", n=1)
        Queue("media").defer(db_session, "later", schedule_at=later, n=2)
        db_session.commit()

    (fleet_job,) = jobs_in(database, "fleet")
    assert (fleet_job.task_name, fleet_job.queue_name, fleet_job.status) == (
        "fleet.now",
        "fleet",
        "todo",
    )
    assert fleet_job.args == {"n": 1}
    # Due at once, and stamped so: the latency metric measures from it.
    assert before - timedelta(seconds=1) <= fleet_job.scheduled_at <= datetime.now(UTC)
    (media_job,) = jobs_in(database, "media")
    assert (media_job.task_name, media_job.queue_name) == ("media.later", "media")
    assert media_job.scheduled_at == later


def test_a_deferring_session_keeps_its_own_search_path_after_commit(committed):
    """Queue.defer points search_path at the queue's schema for its transaction only."""
    _, database = committed
    with database.sessionmaker() as db_session:
        Queue("media").defer(db_session, "x")
        db_session.commit()
        assert db_session.scalar(sa.text("SHOW search_path")) == '"$user", public'


def periodic_queue() -> Queue:
    queue = Queue("fleet")

    @queue.periodic("tick", cron="* * * * *")
    def tick(timestamp: int) -> None:
        raise AssertionError("not run here")

    return queue


async def defer_ticks(url: str, queue: Queue, timestamps: list[int]) -> None:
    """What each of two workers' periodic deferrers does at the same ticks."""
    with queue.app.replace_connector(_worker_connector(url, queue.service)):
        async with queue.app.open_async():
            (periodic_task,) = queue.app.periodic_registry.periodic_tasks.values()
            deferrers = [PeriodicDeferrer(queue.app.periodic_registry) for _ in range(2)]
            for timestamp in timestamps:
                await asyncio.gather(
                    *(deferrer.defer_jobs([(periodic_task, timestamp)]) for deferrer in deferrers)
                )


def test_two_workers_defer_a_periodic_tick_once(committed):
    url, database = committed
    tick = int(time.time()) // 60 * 60
    asyncio.run(defer_ticks(url, periodic_queue(), [tick]))
    (job,) = jobs_in(database, "fleet")
    assert job.task_name == "fleet.tick"
    assert job.args == {"timestamp": tick}


def test_a_tick_is_not_queued_behind_an_unfinished_one(committed):
    """The queueing lock: a tick due while the last is still waiting (a worker down, a
    long run) is dropped rather than piled up."""
    url, database = committed
    tick = int(time.time()) // 60 * 60
    asyncio.run(defer_ticks(url, periodic_queue(), [tick - 120, tick - 60, tick]))
    assert [job.args for job in jobs_in(database, "fleet")] == [{"timestamp": tick - 120}]


async def run_stalled_check(url: str, queue: Queue) -> tuple[int, int]:
    with queue.app.replace_connector(_worker_connector(url, queue.service)):
        async with queue.app.open_async():
            alive = await queue.app.job_manager.register_worker()
            dead = await queue.app.job_manager.register_worker()
            connector = queue.app.connector
            await connector.execute_query_async(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - %(age)s::interval"
                " WHERE id = %(dead)s",
                age=f"{STALLED_AFTER_SECONDS + 5} seconds",
                dead=dead,
            )
            return alive, dead


def test_the_jobs_of_a_worker_that_stopped_beating_go_back_to_the_queue(committed):
    url, database = committed
    queue = Queue("fleet")
    with database.sessionmaker() as db_session:
        for n in range(2):
            queue.defer(db_session, "work", n=n)
        db_session.commit()
    alive, dead = asyncio.run(run_stalled_check(url, queue))
    first, second = jobs_in(database, "fleet")
    table = jobs_table("fleet")
    with database.engine.begin() as connection:
        for job, worker in ((first, dead), (second, alive)):
            connection.execute(
                sa.update(table)
                .where(table.c.id == job.id)
                .values(status=sa.text("'doing'"), worker_id=worker)
            )

    async def retry() -> int:
        with queue.app.replace_connector(_worker_connector(url, "fleet")):
            async with queue.app.open_async():
                return await retry_stalled_jobs(queue.app, "fleet")

    assert asyncio.run(retry()) == 1
    first, second = jobs_in(database, "fleet")
    # The dead worker's job waits for another; the live worker's job is left to it.
    assert first.status == "todo"
    assert (second.status, second.worker_id) == ("doing", alive)


def test_the_probe_reads_the_queue_depth_and_the_oldest_wait(committed):
    _, database = committed
    queue = Queue("fleet")
    with database.sessionmaker() as db_session:
        queue.defer(db_session, "due", schedule_at=datetime.now(UTC) - timedelta(seconds=90))
        queue.defer(db_session, "due")
        queue.defer(db_session, "later", schedule_at=datetime.now(UTC) + timedelta(hours=1))
        db_session.commit()
    metrics = WorkerMetrics("fleet")
    probe_queue(database.engine, "fleet", metrics)
    sample = metrics.registry.get_sample_value
    assert sample("frota_job_queue_depth", {"service": "fleet", "state": "due"}) == 2
    assert sample("frota_job_queue_depth", {"service": "fleet", "state": "scheduled"}) == 1
    oldest = sample("frota_job_queue_oldest_due_seconds", {"service": "fleet"})
    assert oldest is not None
    assert 90 <= oldest < 120
    # The media queue is another schema's: none of these.
    probe_queue(database.engine, "media", metrics)
    assert sample("frota_job_queue_depth", {"service": "media", "state": "due"}) == 0


def test_jobs_may_be_deleted_from_any_session(committed):
    """procrastinate's triggers name its tables unqualified; pinned to their schema they
    work from a session on the default search_path (the purge, an operator's psql)."""
    _, database = committed
    with database.sessionmaker() as db_session:
        Queue("fleet").defer(db_session, "x")
        db_session.commit()
    with database.engine.begin() as connection:
        assert connection.scalar(sa.text("SHOW search_path")) == '"$user", public'
        connection.execute(sa.delete(jobs_table("fleet")))
    assert jobs_in(database, "fleet") == []


def test_a_job_that_met_the_database_unavailable_runs_again_and_a_failing_one_does_not():
    queue = Queue("fleet")

    @queue.task("deliver")
    def deliver() -> None:
        raise AssertionError("not run here")

    job = Job(id=1, queue="fleet", lock=None, queueing_lock=None, task_name="fleet.deliver")
    strategy = deliver.retry_strategy
    gone = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    again = strategy.get_retry_decision(exception=gone, job=job.evolve(attempts=50))
    assert again is not None
    wait = (again.retry_at - datetime.now(UTC)).total_seconds()
    assert RETRY_UNAVAILABLE_SECONDS - 2 <= wait <= RETRY_UNAVAILABLE_SECONDS
    assert strategy.get_retry_decision(exception=ValueError("a bug"), job=job) is None
