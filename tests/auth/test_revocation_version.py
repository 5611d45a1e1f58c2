"""Every revocation raises PostgreSQL's revocation version, and the publisher brings a
real Redis up to it; a publish Redis cannot take never fails the change itself."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from auth_service import revocation, service
from auth_service.revocation import RevocationPublisher
from shared.internal_auth import Identity
from shared.revocation import RevocationCache
from tests.support.factories import DEFAULT_PASSWORD, make_user
from tests.support.processes import free_port
from tests.support.revocation import revocation_cache

NEW_PASSWORD = "a-much-longer-new-password-42"


@pytest.fixture
def cache(redis_url: str) -> Iterator[RevocationCache]:
    with revocation_cache(redis_url) as cache:
        yield cache


def as_user(user, **token) -> Identity:
    return Identity(
        user_id=str(user.id),
        role=user.role,
        caller="gateway",
        request_id=uuid.uuid4().hex,
        **token,
    )


def test_every_way_of_ending_sessions_raises_the_version_and_redis_follows(db_session, cache):
    publisher = RevocationPublisher(cache)
    start = revocation.current_version(db_session)
    cache.load([], {}, start)
    user = make_user(db_session)
    admin = make_user(db_session, role="admin")

    service.change_password(
        db_session=db_session,
        user=user,
        current_password=DEFAULT_PASSWORD,
        new_password=NEW_PASSWORD,
        publisher=publisher,
    )
    for changes in ({"role": "manager"}, {"is_active": False}):
        service.update_user(
            db_session=db_session,
            identity=as_user(admin),
            user_id=user.id,
            changes=changes,
            publisher=publisher,
        )
    expires = int(time.time()) + 3600
    service.logout(
        db_session=db_session,
        identity=as_user(admin, token_jti=uuid.uuid4().hex, token_exp=expires),
        refresh_claims={"sub": str(admin.id), "jti": uuid.uuid4().hex, "exp": expires},
        publisher=publisher,
    )

    # Password, role, deactivation: one each; logout: one per token (access and refresh).
    assert revocation.current_version(db_session) == start + 5
    assert cache.version() == start + 5
    assert cache.status("any", str(user.id)).generation == user.token_generation == 3


def test_a_change_that_ends_no_session_leaves_the_version_alone(db_session, cache):
    user = make_user(db_session)
    admin = make_user(db_session, role="admin")
    start = revocation.current_version(db_session)
    service.update_user(
        db_session=db_session,
        identity=as_user(admin),
        user_id=user.id,
        changes={"full_name": "Renamed"},
        publisher=RevocationPublisher(cache),
    )
    assert revocation.current_version(db_session) == start


def test_a_publish_redis_cannot_take_is_tried_twice_and_the_change_still_commits(db_session):
    # As the auth service makes its client (from_url: no hidden retries with back-off).
    gone = redis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    user = make_user(db_session)
    start = revocation.current_version(db_session)
    started = time.monotonic()
    service.change_password(
        db_session=db_session,
        user=user,
        current_password=DEFAULT_PASSWORD,
        new_password=NEW_PASSWORD,
        publisher=RevocationPublisher(RevocationCache(gone, "frota-test-gone")),
    )
    # PostgreSQL has it; the gateway will see Redis behind and catch up from here.
    assert revocation.current_version(db_session) == start + 1
    _, generations, version = revocation.snapshot(db_session)
    assert version == start + 1
    assert generations[str(user.id)] == 1
    assert time.monotonic() - started < 1.0


def test_a_logout_while_redis_stalls_waits_for_one_round_of_attempts_not_one_per_token(
    db_session, caplog
):
    # A Redis that accepts connections and never answers, as under CLIENT PAUSE.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        stalled = redis.Redis.from_url(
            f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
            socket_timeout=0.2,
            socket_connect_timeout=0.2,
        )
        user = make_user(db_session)
        start = revocation.current_version(db_session)
        expires = int(time.time()) + 3600
        with caplog.at_level(logging.WARNING, logger="frota.auth.revocation"):
            service.logout(
                db_session=db_session,
                identity=as_user(user, token_jti=uuid.uuid4().hex, token_exp=expires),
                refresh_claims={"sub": str(user.id), "jti": uuid.uuid4().hex, "exp": expires},
                publisher=RevocationPublisher(RevocationCache(stalled, "frota-test-stalled")),
            )
    attempts = [r for r in caplog.records if "failed (try" in r.getMessage()]
    assert len(attempts) == revocation.PUBLISH_ATTEMPTS
    assert revocation.current_version(db_session) == start + 2
