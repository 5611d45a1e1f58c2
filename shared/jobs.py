"""Each service's durable job queue, on procrastinate in the service's own schema.

Why procrastinate: its queue is PostgreSQL tables we already run and back up, a job
can be deferred in the transaction of the change that causes it (so a rolled-back
change defers nothing and a committed one never loses its job), and it has the
retries, scheduled jobs, periodic tasks deduplicated across workers, locks and
heartbeats that a queue of our own would have to grow.

One :class:`Queue` per service: its tasks, the schema its tables live in
(``fleet.procrastinate_jobs``, ``media.procrastinate_jobs``), and the queue name
its worker listens on. Code defers with :meth:`Queue.defer` inside its own
SQLAlchemy transaction; ``frota worker <service>`` runs :func:`run_worker`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import procrastinate
import psycopg
import sqlalchemy as sa
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db import CONNECTION_OPTIONS, Database, make_engine
from shared.errors import DATABASE_UNAVAILABLE

logger = logging.getLogger("frota.jobs")

# A worker whose heartbeat is older than this is taken for dead: its running jobs
# go back to the queue. Three missed beats (procrastinate beats every 10 s, from its
# event loop, which the tasks' threads never block); procrastinate's own default.
STALLED_AFTER_SECONDS = 30
# The worker's /livez fails once its last look at the queue is older than this.
LIVE_WITHIN_SECONDS = 60
PROBE_EVERY_SECONDS = 10
# After the database was lost: how long before the worker tries it again, and
# before a job that met it unavailable runs again.
RECONNECT_SECONDS = 5
RETRY_UNAVAILABLE_SECONDS = 10


def queue_schema_sql() -> str:
    """procrastinate's tables, types and functions, to be created in a service's schema.

    The SQL names nothing by schema: a migration runs it with ``search_path`` set to
    the service's schema. Upgrading procrastinate past its pinned minor version needs
    a migration applying its own migration files the same way.
    """
    return (resources.files("procrastinate.sql") / "schema.sql").read_text()


PIN_FUNCTIONS_SQL = """
DO $$
DECLARE function regprocedure;
BEGIN
    FOR function IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = %(schema)s::regnamespace AND p.proname LIKE 'procrastinate%%'
    LOOP
        EXECUTE format('ALTER FUNCTION %%s SET search_path = %%I', function, %(schema)s);
    END LOOP;
END
$$
"""


def apply_queue_schema(connection: sa.Connection, schema: str) -> None:
    """Create procrastinate's objects in ``schema`` (from a migration, as the owner)."""
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        # Without parameters psycopg2 passes the SQL as it is (its % signs included).
        cursor.execute(f'SET LOCAL search_path TO "{schema}"')
        cursor.execute(queue_schema_sql())
        # Its functions and triggers name its tables unqualified: pinned to the schema,
        # they find them from any session (a DELETE of jobs, a backup restored), and
        # nothing earlier on a caller's search_path can stand in for them.
        cursor.execute(PIN_FUNCTIONS_SQL, {"schema": schema})
        cursor.execute("SET LOCAL search_path TO DEFAULT")
    finally:
        cursor.close()


def _worker_connector(url: str, schema: str) -> procrastinate.PsycopgConnector:
    """The worker's own pool (psycopg 3, async); procrastinate's SQL finds its objects
    through search_path."""
    options = f"{CONNECTION_OPTIONS} -c search_path={schema}"
    return procrastinate.PsycopgConnector(conninfo=url, kwargs={"options": options})


@dataclass(frozen=True)
class WorkerContext:
    """What a task of a running worker works with (:attr:`Queue.context`)."""

    settings: Settings
    database: Database
    metrics: WorkerMetrics


class Queue:
    """One service's job queue: the tasks its worker runs and how its code defers them."""

    def __init__(self, service: str) -> None:
        self.service = service
        # Set by run_worker, for the tasks; None outside a worker.
        self._context: WorkerContext | None = None
        # The tasks, run by `frota worker`; its connector is the worker's, set when
        # the worker starts (run_worker).
        self.app = procrastinate.App(connector=SQLAlchemyPsycopg2Connector())
        # Defers by task name on the caller's own connection, inside its transaction.
        # Never opened: every defer passes the connection.
        self._deferrer = procrastinate.App(connector=SQLAlchemyPsycopg2Connector())

    @property
    def context(self) -> WorkerContext:
        assert self._context is not None, "tasks run in a worker (run_worker)"
        return self._context

    def task(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """Declare a task of this queue, named ``<service>.<name>``.

        A job that met the database unavailable (stopped, restarted mid-way) runs again
        every RETRY_UNAVAILABLE_SECONDS until it is back: a job deferred is a promise
        (an event's delivery), not lost to an outage. Any other error ends it failed.
        """
        options.setdefault(
            "retry",
            procrastinate.RetryStrategy(
                wait=RETRY_UNAVAILABLE_SECONDS, retry_exceptions=DATABASE_UNAVAILABLE
            ),
        )
        return self.app.task(name=f"{self.service}.{name}", queue=self.service, **options)

    def periodic(self, name: str, cron: str) -> Callable[[Callable[..., Any]], Any]:
        """Declare a task run on ``cron``: one job a tick, however many workers run.

        procrastinate defers each tick once (a unique row per task and timestamp) and
        the queueing lock keeps a late tick from piling up behind a running one.
        """

        def declare(func: Callable[..., Any]) -> Any:
            task = self.app.task(
                name=f"{self.service}.{name}",
                queue=self.service,
                queueing_lock=f"{self.service}.{name}",
                pass_context=False,
            )(func)
            return self.app.periodic(cron=cron, periodic_id=name)(task)

        return declare

    def defer(
        self,
        db_session: Session,
        name: str,
        *,
        schedule_at: datetime | None = None,
        **task_kwargs: Any,
    ) -> int:
        """Defer task ``name`` in ``db_session``'s transaction: it exists once that commits.

        Returns the job's id.
        """
        connection = db_session.connection()
        # Local to the transaction; every table of ours is named with its schema.
        connection.execute(sa.select(sa.func.set_config("search_path", self.service, sa.true())))
        deferrer = self._deferrer.configure_task(
            f"{self.service}.{name}",
            queue=self.service,
            # Always set: procrastinate keeps no defer time, and the worker's latency
            # metric measures from when a job was due.
            schedule_at=schedule_at or datetime.now(UTC),
            connection=connection,
        )
        return int(deferrer.defer(**task_kwargs))


def cron_every(minutes: int) -> str:
    """The cron of a task run every ``minutes``, on multiples of it since midnight (UTC).

    ``minutes`` divides an hour, or is whole hours that divide a day (the settings
    check it); any other number of minutes has no cron of its own.
    """
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours = minutes // 60
    return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


# Nightly (UTC, as every cron here), apart from the fleet's purge of deliveries (03:17).
PURGE_JOBS_CRON = "47 3 * * *"


def register_job_purge(queue: Queue, keep_days: int) -> None:
    """Declare ``queue``'s daily purge of the jobs that finished over ``keep_days`` ago.

    Successful jobs go as they succeed (run_worker's delete_jobs); failed, cancelled
    and aborted ones stay this long for an operator to look at, with their events.
    """

    @queue.periodic("purge_jobs", cron=PURGE_JOBS_CRON)
    async def purge_jobs(timestamp: int) -> None:
        await purge_finished_jobs(queue.app, queue.service, keep_days)


async def purge_finished_jobs(app: procrastinate.App, service: str, keep_days: int) -> None:
    """Delete the jobs of ``service``'s queue that reached a final state over ``keep_days`` ago."""
    await app.job_manager.delete_old_jobs(
        nb_hours=keep_days * 24,
        queue=service,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )


class WorkerMetrics:
    """What a worker counts, served on its /metrics (its own registry: one process)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "frota_jobs_total",
            "Jobs run, by task and outcome (succeeded, failed)",
            ["service", "task", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "frota_job_duration_seconds",
            "How long a job ran, by task",
            ["service", "task"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "frota_job_latency_seconds",
            "From when a job was due to when a worker started it, by task",
            ["service", "task"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=self.registry,
        )
        self.depth = Gauge(
            "frota_job_queue_depth",
            "Jobs due and waiting for a worker, and those scheduled later",
            ["service", "state"],
            registry=self.registry,
        )
        self.oldest = Gauge(
            "frota_job_queue_oldest_due_seconds",
            "How long the oldest job due has waited",
            ["service"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "frota_webhook_deliveries_total",
            "Webhook delivery attempts, by outcome (delivered, failed, refused)",
            ["outcome"],
            registry=self.registry,
        )
        self.emails = Counter(
            "frota_emails_total",
            "E-mails sent or failed, by kind",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.service = service
        self.last_probe = 0.0


DEPTH_QUERY = sa.text(
    """
    SELECT count(*) FILTER (WHERE scheduled_at IS NULL OR scheduled_at <= now()) AS due,
           count(*) FILTER (WHERE scheduled_at > now()) AS scheduled,
           extract(epoch FROM now() - min(coalesce(scheduled_at, e.at))
                   FILTER (WHERE scheduled_at IS NULL OR scheduled_at <= now())) AS oldest
    FROM procrastinate_jobs j
    LEFT JOIN LATERAL (
        SELECT at FROM procrastinate_events
        WHERE job_id = j.id AND type = 'deferred' ORDER BY at LIMIT 1
    ) e ON true
    WHERE j.status = 'todo' AND j.queue_name = :queue
    """
)


def probe_queue(engine: sa.Engine, service: str, metrics: WorkerMetrics) -> None:
    """Read the queue's depth into the gauges; a success keeps /livez green."""
    with engine.connect() as conn:
        conn.execute(sa.select(sa.func.set_config("search_path", service, sa.true())))
        row = conn.execute(DEPTH_QUERY, {"queue": service}).one()
    metrics.depth.labels(service, "due").set(row.due)
    metrics.depth.labels(service, "scheduled").set(row.scheduled)
    metrics.oldest.labels(service).set(float(row.oldest or 0))
    metrics.last_probe = time.monotonic()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds: not worth a line each


def serve_probes(metrics: WorkerMetrics, host: str, port: int) -> WSGIServer:
    """/livez (the worker reached its queue lately) and /metrics, in a thread."""
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/livez":
            live = time.monotonic() - metrics.last_probe < LIVE_WITHIN_SECONDS
            start_response(
                "200 OK" if live else "503 Service Unavailable",
                [("Content-Type", "application/json")],
            )
            return [b'{"status": "ok"}' if live else b'{"status": "down"}']
        return metrics_app(environ, start_response)

    server = make_server(host, port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-probes", daemon=True).start()
    return server


def _metrics_middleware(metrics: WorkerMetrics) -> Callable[..., Any]:
    async def measure(call_next: Callable[[], Any], context: Any, _worker: Any) -> Any:
        job = context.job
        task = job.task_name
        # Deferred jobs are always scheduled (Queue.defer); a periodic one is due at its tick.
        due = job.scheduled_at.timestamp() if job.scheduled_at else job.task_kwargs.get("timestamp")
        if isinstance(due, int | float):
            metrics.latency.labels(metrics.service, task).observe(max(0.0, time.time() - due))
        started = time.perf_counter()
        try:
            result = await call_next()
        except BaseException:
            metrics.jobs.labels(metrics.service, task, "failed").inc()
            raise
        finally:
            metrics.duration.labels(metrics.service, task).observe(time.perf_counter() - started)
        metrics.jobs.labels(metrics.service, task, "succeeded").inc()
        return result

    return measure


async def retry_stalled_jobs(app: procrastinate.App, service: str) -> int:
    """Put back in the queue the jobs of workers that stopped beating (killed, cut off)."""
    stalled = await app.job_manager.get_stalled_jobs(
        queue=service, seconds_since_heartbeat=STALLED_AFTER_SECONDS
    )
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        count += 1
    if count:
        logger.warning("put %d stalled job(s) back in the %s queue", count, service)
    return count


async def _watch(
    app: procrastinate.App, engine: sa.Engine, service: str, metrics: WorkerMetrics
) -> None:
    """Every few seconds: the queue's depth, and the stalled jobs back in it."""
    while True:
        try:
            await asyncio.to_thread(probe_queue, engine, service, metrics)
            await retry_stalled_jobs(app, service)
        except Exception as exc:  # the database away: /livez turns red, the loop goes on
            logger.warning("the %s queue could not be read: %s", service, exc)
        await asyncio.sleep(PROBE_EVERY_SECONDS)


async def _work(
    queue: Queue,
    settings: Settings,
    engine: sa.Engine,
    metrics: WorkerMetrics,
    stopping: asyncio.Event,
) -> None:
    """Run procrastinate's worker until ``stopping`` is set or the worker ends by itself.

    It ends by itself when it loses the database (its listener or a query fails): the
    caller starts another rather than exit, as the web parts ride an outage out with
    503s (`frota up` stops the whole stack when a part exits). Jobs left running go
    back to the queue as a dead worker's (retry_stalled_jobs).
    """
    try:
        async with queue.app.open_async():
            watcher = asyncio.create_task(_watch(queue.app, engine, queue.service, metrics))
            worker = asyncio.create_task(
                queue.app.run_worker_async(
                    queues=[queue.service],
                    name=f"{queue.service}-worker",
                    concurrency=settings.worker_concurrency,
                    worker_middleware=[_metrics_middleware(metrics)],
                    # What a job did is in our own tables (deliveries, attempts);
                    # failed jobs stay for EVENTS_KEEP_DAYS (the purge task).
                    delete_jobs="successful",
                    shutdown_graceful_timeout=20,
                    # Ours (run_worker): a stop asked for, told from one it was not.
                    install_signal_handlers=False,
                )
            )
            stop = asyncio.create_task(stopping.wait())
            try:
                await asyncio.wait({worker, stop}, return_when=asyncio.FIRST_COMPLETED)
                # Cancelled, procrastinate's worker stops taking jobs and lets the
                # running ones finish (up to its graceful timeout).
                worker.cancel()
                with suppress(asyncio.CancelledError):
                    await worker
            finally:
                stop.cancel()
                watcher.cancel()
    except (procrastinate.exceptions.ConnectorException, psycopg.OperationalError) as exc:
        logger.warning("the %s worker lost its database: %s", queue.service, exc.__cause__ or exc)
    if not stopping.is_set():
        logger.warning(
            "the %s worker stopped; starting again in %d s", queue.service, RECONNECT_SECONDS
        )


def run_worker(queue: Queue, settings: Settings, *, port: int) -> None:
    """Run ``queue``'s worker until SIGTERM or SIGINT; jobs under way finish first.

    Connects as the service's own role (its ``*_DATABASE_URL``, else DATABASE_URL).
    """
    url = settings.database_url_for(queue.service)
    if not url:
        raise RuntimeError("DATABASE_URL is not set: run through `frota up`, or set it")
    metrics = WorkerMetrics(queue.service)
    # Tasks run in threads of their own (up to WORKER_CONCURRENCY at once).
    database = Database(
        make_engine(url, settings.replace(db_pool_size=settings.worker_concurrency + 2))
    )
    engine = database.engine
    queue._context = WorkerContext(settings, database, metrics)
    server = serve_probes(metrics, settings.bind_host, port)
    connector = _worker_connector(url, queue.service)

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop_signal, stopping.set)
        with queue.app.replace_connector(connector):
            while not stopping.is_set():
                await _work(queue, settings, engine, metrics, stopping)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), RECONNECT_SECONDS)

    logger.info("%s worker starting (concurrency %d)", queue.service, settings.worker_concurrency)
    # SIGTERM or SIGINT: no more jobs taken, the running ones finish (up to 20 s).
    try:
        asyncio.run(main())
    finally:
        server.shutdown()
        engine.dispose()
        queue._context = None
        logger.info("%s worker stopped", queue.service)
