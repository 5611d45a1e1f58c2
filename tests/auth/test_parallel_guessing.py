"""Guesses arriving in parallel are counted before any is hashed (real threads, real HTTP)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.orm import Session

from auth_service import service as auth
from auth_service.models import AuditEvent
from auth_service.throttle import LOCK_AFTER_FAILURES
from tests.auth.conftest import LiveAuth

PARALLEL = 80
LOGIN_LIMIT = 10  # RATE_LIMIT_LOGIN's default, 10/minute per address


def create_user(live: LiveAuth, username: str, password: str) -> None:
    with Session(live.engine) as session:
        auth.create_user(
            db_session=session,
            username=username,
            full_name=username,
            role="driver",
            password=password,
        )


def hashed_failures(live: LiveAuth, address: str) -> int:
    """Failed logins that got as far as Argon2: each writes one login_failed audit row."""
    with live.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "login_failed", AuditEvent.ip == address)
        ).scalar_one()


def guess_in_parallel(live: LiveAuth, address: str, usernames: list[str]) -> list[int]:
    """Send every guess at once from ``address`` (a barrier releases the threads together)."""
    barrier = threading.Barrier(len(usernames))

    def guess(username: str) -> int:
        barrier.wait(timeout=30)
        return live.login(address, username, "a-wrong-guess").status_code

    with ThreadPoolExecutor(max_workers=len(usernames)) as pool:
        return list(pool.map(guess, usernames))


def test_80_parallel_guesses_from_one_address_hash_exactly_the_limit(live_auth):
    address = "203.0.113.80"
    known = f"known-{uuid.uuid4().hex[:8]}"
    create_user(live_auth, known, "the-real-password")
    # A password spray: the one known user and many unknown ones, all at once.
    usernames = [
        known if n % 4 == 0 else f"spray-{n}-{uuid.uuid4().hex[:6]}" for n in range(PARALLEL)
    ]
    started = time.monotonic()
    statuses = guess_in_parallel(live_auth, address, usernames)
    elapsed = time.monotonic() - started
    counts = Counter(statuses)
    # Exactly the limit is let through and hashed, however the 80 interleave.
    assert counts == {401: LOGIN_LIMIT, 429: PARALLEL - LOGIN_LIMIT}, counts
    assert hashed_failures(live_auth, address) == LOGIN_LIMIT
    print(f"{PARALLEL} parallel guesses: {dict(counts)} in {elapsed:.2f} s")


def test_80_parallel_guesses_at_one_account_hash_exactly_the_lockout_threshold(live_auth):
    address = "198.51.100.80"
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    create_user(live_auth, victim, "the-real-password")
    owner_result: list[tuple[int, float]] = []

    def owner_logs_in_meanwhile() -> None:
        started = time.monotonic()
        status = live_auth.login("192.0.2.10", victim, "the-real-password").status_code
        owner_result.append((status, time.monotonic() - started))

    owner = threading.Timer(0.05, owner_logs_in_meanwhile)
    owner.start()
    statuses = guess_in_parallel(live_auth, address, [victim] * PARALLEL)
    owner.join(timeout=30)
    counts = Counter(statuses)
    assert counts == {401: LOCK_AFTER_FAILURES, 429: PARALLEL - LOCK_AFTER_FAILURES}, counts
    assert hashed_failures(live_auth, address) == LOCK_AFTER_FAILURES
    # The owner, elsewhere, got in during the attack and is not locked out after it.
    [(owner_status, owner_seconds)] = owner_result
    assert owner_status == 200
    assert live_auth.login("192.0.2.10", victim, "the-real-password").status_code == 200
    print(f"{PARALLEL} guesses at one account: {dict(counts)}; owner in {owner_seconds:.2f} s")
