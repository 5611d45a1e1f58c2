"""The media worker's tasks: the scheduled prune of the volume, the purge of finished jobs.

Run by ``frota worker media``. The prune takes the advisory lock of
:mod:`media_service.prune_job` first, as `frota media prune` and a backup do.
"""

from __future__ import annotations

import logging

from media_service.prune_job import run_scheduled_prune
from media_service.pruning import PruneResult
from media_service.queue import QUEUE
from media_service.storage import LocalStorage
from shared.config import Settings
from shared.jobs import WorkerContext, cron_every, register_job_purge, run_worker

MB = 1024 * 1024

# The name the retention jobs have always logged under, so log filters keep working.
logger = logging.getLogger("frota.media.retention")


def prune_volume(context: WorkerContext) -> PruneResult | None:
    """One scheduled prune; None when a prune or a backup elsewhere holds the lock."""
    settings = context.settings
    result = run_scheduled_prune(
        database=context.database,
        storage=LocalStorage(settings.media_root),
        quota_bytes=settings.media_quota_mb * MB,
    )
    if result is None:
        logger.info("scheduled prune skipped: another prune or a backup holds the lock")
    return result


def register_periodic(settings: Settings) -> None:
    """The periodic tasks: the prune every MEDIA_PRUNE_INTERVAL_MINUTES (0: never), the purge."""
    minutes = settings.media_prune_interval_minutes
    if minutes > 0:

        @QUEUE.periodic("prune", cron=cron_every(minutes))
        def prune(timestamp: int) -> None:
            prune_volume(QUEUE.context)

    register_job_purge(QUEUE, settings.events_keep_days)


def main(settings: Settings) -> None:
    register_periodic(settings)
    run_worker(QUEUE, settings, port=settings.media_worker_port)
