"""The media service's job queue (its tasks are media_service.jobs)."""

from shared.jobs import Queue

QUEUE = Queue("media")
