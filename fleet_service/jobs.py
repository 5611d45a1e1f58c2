"""The fleet worker's tasks: webhook deliveries, alert evaluation, digests, the purge.

Run by ``frota worker fleet``; each task opens its own session from the worker's
database (:attr:`fleet_service.queue.QUEUE.context`).
"""

from __future__ import annotations

import uuid

from fleet_service.alerts.evaluation import evaluate_alerts
from fleet_service.events import DELIVER
from fleet_service.notifications.digest import send_due_digests
from fleet_service.queue import QUEUE
from fleet_service.webhooks.delivery import deliver, purge_old_deliveries
from shared.config import Settings
from shared.jobs import cron_every, register_job_purge, run_worker


@QUEUE.task(DELIVER)
def deliver_webhook(delivery_id: str, after_attempts: int = 0) -> None:
    deliver(QUEUE.context, uuid.UUID(delivery_id), after_attempts)


def register_periodic(settings: Settings) -> None:
    """The periodic tasks, on the schedules the settings give."""

    @QUEUE.periodic("evaluate_alerts", cron=cron_every(settings.alerts_evaluate_minutes))
    def evaluate(timestamp: int) -> None:
        with QUEUE.context.database.sessionmaker() as db_session:
            evaluate_alerts(db_session)

    # A manager's digest is due once DIGEST_HOUR has passed in São Paulo and none went
    # out today; sending marks the day, so each gets one a day however often this runs.
    @QUEUE.periodic("send_digests", cron="*/5 * * * *")
    def digests(timestamp: int) -> None:
        send_due_digests(QUEUE.context)

    @QUEUE.periodic("purge", cron="17 3 * * *")
    def purge(timestamp: int) -> None:
        purge_old_deliveries(QUEUE.context)

    register_job_purge(QUEUE, settings.events_keep_days)


def main(settings: Settings) -> None:
    register_periodic(settings)
    run_worker(QUEUE, settings, port=settings.fleet_worker_port)
