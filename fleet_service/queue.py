"""The fleet service's job queue (its tasks are fleet_service.jobs)."""

from shared.jobs import Queue

QUEUE = Queue("fleet")
