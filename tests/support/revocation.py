"""The Redis side of revocation on the test Redis, under a prefix of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from shared.revocation import RevocationCache


@contextmanager
def revocation_cache(redis_url: str) -> Iterator[RevocationCache]:
    """A RevocationCache under a fresh prefix; its keys are deleted afterwards."""
    client = redis.Redis.from_url(redis_url)
    prefix = f"frota-test-{uuid.uuid4().hex[:8]}"
    try:
        yield RevocationCache(client, prefix)
    finally:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
