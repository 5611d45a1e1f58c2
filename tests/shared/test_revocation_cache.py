"""The Redis side of revocation, against a real Redis: Redis only claims a revocation
version when it holds every change up to it, and nothing late or stale lowers state."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from shared.revocation import RevocationCache
from tests.support.processes import RedisProcess
from tests.support.revocation import revocation_cache

HOUR = 3600


@pytest.fixture
def cache(redis_url: str) -> Iterator[RevocationCache]:
    with revocation_cache(redis_url) as cache:
        yield cache


def test_an_empty_redis_takes_changes_but_claims_no_version_until_loaded(cache):
    assert cache.publish_token("a", int(time.time()) + HOUR, 1) == -1
    status = cache.status("a", "u1")
    assert status.jti_revoked
    assert status.version is None
    assert not status.loaded
    assert cache.load([], {}, 1) == 1
    assert cache.status("a", "u1").version == 1


def test_a_change_raises_the_version_only_when_redis_held_every_change_before_it(cache):
    cache.load([], {}, 5)
    assert cache.publish_generation("u1", 1, 6) == 6
    # Version 7 never arrived (its publish timed out): 8 is written, not claimed.
    assert cache.publish_token("b", int(time.time()) + HOUR, 8) == 6
    status = cache.status("b", "u1")
    assert status.jti_revoked
    assert status.version == 6
    # A retry of a change already taken changes nothing.
    assert cache.publish_generation("u1", 1, 6) == 6


def test_a_token_that_expired_anyway_still_advances_the_version(cache):
    cache.load([], {}, 0)
    assert cache.publish_token("old", int(time.time()) - 10, 1) == 1
    assert not cache.status("old", "u1").jti_revoked


def test_generations_never_go_down_whether_a_publish_is_late_or_a_reload_is_stale(cache):
    cache.load([], {}, 0)
    cache.publish_generation("u1", 3, 1)
    cache.publish_generation("u1", 2, 2)  # the earlier change, published late
    assert cache.status("x", "u1").generation == 3
    cache.load([], {"u1": 1}, 1)  # a snapshot read before both
    assert cache.status("x", "u1").generation == 3


def test_a_reload_writes_the_whole_state_and_never_lowers_the_version(cache):
    expiry = int(time.time()) + HOUR
    assert cache.load([("t1", expiry), ("gone", int(time.time()) - 5)], {"u1": 2}, 4) == 4
    assert cache.status("t1", "u1").jti_revoked
    assert not cache.status("gone", "u1").jti_revoked
    assert cache.status("t1", "u1").generation == 2
    assert cache.load([], {}, 3) == 4
    assert cache.version() == 4


def test_revoked_tokens_carry_no_ttl_and_are_forgotten_once_expired(cache):
    cache.load([], {}, 0)
    cache.publish_token("soon", int(time.time()) + 1, 1)
    assert cache.client.ttl(cache._jti_key("soon")) == -1
    time.sleep(2.1)
    cache.publish_generation("u1", 1, 2)  # any later change tidies up
    assert not cache.status("soon", "u1").jti_revoked
    assert cache.client.zcard(cache.index_key) == 0


def test_memory_pressure_evicts_rate_limit_keys_never_a_revocation():
    # Compose runs Redis with maxmemory and volatile-ttl: keys with the shortest
    # TTL go first. A revoked token about to expire anyway must not be one of them.
    with RedisProcess() as process:
        client = redis.Redis.from_url(process.url)
        client.config_set("maxmemory", "2mb")
        client.config_set("maxmemory-policy", "volatile-ttl")
        cache = RevocationCache(client, "frota-test")
        cache.load([], {}, 0)
        cache.publish_token("revoked", int(time.time()) + 300, 1)
        for i in range(10_000):  # rate-limit windows, about 10 MB of them
            client.set(f"frota-test:rl:{i}", "x" * 1000, ex=3600)
        assert client.info("stats")["evicted_keys"] > 1000
        assert cache.status("revoked", "u1").jti_revoked
        assert cache.version() == 1
        client.close()
