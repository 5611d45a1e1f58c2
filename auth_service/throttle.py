"""Login throttling in PostgreSQL: every attempt is counted before its password is hashed.

An attempt first *reserves* a place on each counter that applies to it, in a
short transaction of its own: an upsert adds one and returns the count, the
row stays locked until that transaction ends, so parallel attempts queue on
the row and each sees the others' reservations. An attempt that would go over
a limit is refused there (its reservation rolled back) and never hashed. After
the password is checked the attempt is *settled*: a success gives back its
place on the failure counters, a failure its place on the success counters.

The counters, each over its own window (fixed windows, started by the first
attempt):

- failures per address (``RATE_LIMIT_LOGIN``, as at the gateway, which counts
  in Redis and lets everything through when Redis is down; this one holds);
- failures per account and address: ``LOCK_AFTER_FAILURES`` lock that account
  *for that address only*, so an attacker cannot lock the owner out from
  elsewhere;
- failures per account from every address: past ``SLOW_DOWN_AFTER_FAILURES``,
  one attempt per ``SLOW_DOWN_INTERVAL`` (429 with Retry-After); a slow-down,
  never a lock, and not applied at an address the account logged in from in
  the last ``FAMILIAR_ADDRESS_FOR``;
- successful logins per account and per address (generous limits).

Counters are keyed by the canonical username whether or not the user exists,
so an unknown username gets exactly the answers a known one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import cast

import limits
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from auth_service.models import LoginThrottle
from shared.config import Settings
from shared.errors import APIError

# Failures of one account from one address before that pair is locked, the
# window they must fall in, and how long the lock lasts.
LOCK_AFTER_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
# Failures of one account from all addresses before it is slowed down to one
# attempt per interval (for everyone, owner included, until the window ends).
SLOW_DOWN_AFTER_FAILURES = 10
SLOW_DOWN_WINDOW = timedelta(minutes=15)
SLOW_DOWN_INTERVAL = timedelta(seconds=5)
# An address the account logged in from successfully is its owner's for this
# long: from there the slow-down does not apply, so a botnet that keeps the
# account slowed down cannot keep its owner out of it.
FAMILIAR_ADDRESS_FOR = timedelta(days=30)
FAMILIAR_SCOPE = "familiar_address"
# Expired rows purged per settled attempt (bounded work per login).
PURGE_BATCH = 100
# Core statements on the table itself; declarative types ``__table__`` as any FromClause.
THROTTLE_TABLE = cast(sa.Table, LoginThrottle.__table__)


class Counts(Enum):
    """What a counter counts, i.e. which outcome keeps the reserved place."""

    FAILURES = "failures"
    SUCCESSES = "successes"


class Keyed(Enum):
    ADDRESS = "address"
    ACCOUNT = "account"
    ACCOUNT_AND_ADDRESS = "account_and_address"


class Refusal(Enum):
    """How a full counter answers (the same for known and unknown usernames)."""

    RATE_LIMITED = "rate_limited"
    LOCKED = "account_locked"
    SLOWED_DOWN = "slowed_down"


@dataclass(frozen=True)
class Counter:
    scope: str
    keyed: Keyed
    counts: Counts
    limit: int
    window: timedelta
    refusal: Refusal


@dataclass(frozen=True)
class LoginPolicy:
    """The counters every login attempt goes through, in the order their rows are locked."""

    counters: tuple[Counter, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        def parsed(text: str) -> tuple[int, timedelta]:
            item = limits.parse(text)
            return item.amount, timedelta(seconds=item.get_expiry())

        failures_per_address = parsed(settings.rate_limit_login)
        logins_per_account = parsed(settings.rate_limit_logins_per_account)
        logins_per_address = parsed(settings.rate_limit_logins_per_address)
        # A fixed order of scopes: two attempts lock shared rows in the same
        # order and never deadlock.
        return cls(
            counters=(
                Counter(
                    "account_failures",
                    Keyed.ACCOUNT,
                    Counts.FAILURES,
                    SLOW_DOWN_AFTER_FAILURES,
                    SLOW_DOWN_WINDOW,
                    Refusal.SLOWED_DOWN,
                ),
                Counter(
                    "account_logins",
                    Keyed.ACCOUNT,
                    Counts.SUCCESSES,
                    *logins_per_account,
                    Refusal.RATE_LIMITED,
                ),
                Counter(
                    "address_failures",
                    Keyed.ADDRESS,
                    Counts.FAILURES,
                    *failures_per_address,
                    Refusal.RATE_LIMITED,
                ),
                Counter(
                    "address_logins",
                    Keyed.ADDRESS,
                    Counts.SUCCESSES,
                    *logins_per_address,
                    Refusal.RATE_LIMITED,
                ),
                Counter(
                    "source_failures",
                    Keyed.ACCOUNT_AND_ADDRESS,
                    Counts.FAILURES,
                    LOCK_AFTER_FAILURES,
                    LOCK_WINDOW,
                    Refusal.LOCKED,
                ),
            )
        )


# The counters with every setting at its default (for callers without an app).
DEFAULT_POLICY = LoginPolicy.from_settings(Settings())


@dataclass(frozen=True)
class Reservation:
    """The places one attempt holds, to be settled once its password is checked."""

    username: str
    address: str
    counters: tuple[Counter, ...]


def _key(counter: Counter, username: str, address: str) -> tuple[str, str, str]:
    return (
        counter.scope,
        username if counter.keyed is not Keyed.ADDRESS else "",
        address if counter.keyed is not Keyed.ACCOUNT else "",
    )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def refused(refusal: Refusal, retry_after: int) -> APIError:
    """The 429 of a full counter; its words never depend on whether the user exists."""
    headers = {"Retry-After": str(retry_after)}
    details = {"retry_after_seconds": retry_after}
    if refusal is Refusal.LOCKED:
        return APIError(
            429,
            "account_locked",
            "Too many failed logins for this account from this address: "
            "it is locked here for a while (other addresses are not affected)",
            details=details,
            headers=headers,
        )
    if refusal is Refusal.SLOWED_DOWN:
        message = "Too many failed logins for this account: one attempt every few seconds"
    else:
        message = "Too many logins: try again later"
    return APIError(429, "rate_limited", message, details=details, headers=headers)


def _add_one(
    db_session: Session, counter: Counter, key: tuple[str, str, str], now: datetime
) -> LoginThrottle:
    """Add one to the counter (a fresh window if the last one ended) and lock its row."""
    table = THROTTLE_TABLE
    expired = table.c.window_started_at + counter.window <= now
    window_end = sa.case((expired, now + counter.window), else_=table.c.expires_at)
    stmt = (
        postgresql.insert(LoginThrottle)
        .values(
            scope=key[0],
            username=key[1],
            address=key[2],
            window_started_at=now,
            count=1,
            expires_at=now + counter.window,
        )
        .on_conflict_do_update(
            index_elements=["scope", "username", "address"],
            set_={
                "count": sa.case((expired, 1), else_=table.c.count + 1),
                "window_started_at": sa.case((expired, now), else_=table.c.window_started_at),
                "expires_at": sa.func.greatest(window_end, table.c.blocked_until),
            },
        )
        .returning(LoginThrottle)
    )
    row = db_session.scalars(
        sa.select(LoginThrottle).from_statement(stmt),
        execution_options={"populate_existing": True},
    ).one()
    return row


def reserve_attempt(
    *, db_session: Session, policy: LoginPolicy, username: str, address: str, now: datetime
) -> Reservation:
    """Count a login attempt before its password is hashed, or raise the 429 that refuses it.

    ``username`` is the canonical form (known or not). Commits on success; on
    refusal nothing is kept (the caller audits the refusal).
    """
    refusals: list[tuple[Refusal, int]] = []
    slowed: list[LoginThrottle] = []
    familiar = db_session.get(LoginThrottle, (FAMILIAR_SCOPE, username, address))
    from_familiar_address = familiar is not None and familiar.expires_at > now
    for counter in policy.counters:
        row = _add_one(db_session, counter, _key(counter, username, address), now)
        if counter.refusal is Refusal.SLOWED_DOWN and from_familiar_address:
            continue  # counted, but the owner's own address is never slowed down
        if row.blocked_until is not None and row.blocked_until > now:
            refusals.append((counter.refusal, _seconds_until(row.blocked_until, now)))
        elif counter.refusal is Refusal.SLOWED_DOWN:
            # Past the threshold every accepted attempt closes the door for
            # the next interval.
            if row.count > counter.limit:
                slowed.append(row)
        elif row.count > counter.limit:
            window_end = row.window_started_at + counter.window
            refusals.append((counter.refusal, _seconds_until(window_end, now)))
    if refusals:
        db_session.rollback()
        order = [Refusal.LOCKED, Refusal.SLOWED_DOWN, Refusal.RATE_LIMITED]
        refusal, retry_after = min(refusals, key=lambda r: (order.index(r[0]), -r[1]))
        raise refused(refusal, retry_after)
    for row in slowed:
        row.blocked_until = now + SLOW_DOWN_INTERVAL
        row.expires_at = max(row.expires_at, row.blocked_until)
    db_session.commit()
    return Reservation(username=username, address=address, counters=policy.counters)


def settle_attempt(
    *, db_session: Session, reservation: Reservation, succeeded: bool, now: datetime
) -> bool:
    """Give back the places the outcome does not keep; lock the pair on its last failure.

    Returns whether this failure locked the account for this address. Does not
    commit: the caller commits with the audit row of the outcome.
    """
    table = THROTTLE_TABLE
    refund = {"count": sa.func.greatest(table.c.count - 1, 0)}
    locked = False
    for counter in reservation.counters:
        scope, username, address = _key(counter, reservation.username, reservation.address)
        row = sa.update(table).where(
            table.c.scope == scope, table.c.username == username, table.c.address == address
        )
        if counter.counts is Counts.SUCCESSES:
            if not succeeded:
                db_session.execute(row.values(**refund))
        elif succeeded:
            # A success clears its account's failures (and slow-down, and its
            # lock here); an address's failures are other accounts' too, so
            # only this attempt's place is given back.
            if counter.keyed is Keyed.ADDRESS:
                db_session.execute(row.values(**refund))
            else:
                db_session.execute(row.values(count=0, blocked_until=None))
        elif counter.refusal is Refusal.LOCKED:
            # This failure may be the one that fills the pair's window: lock it.
            lock_until = now + LOCK_FOR
            result = db_session.execute(
                row.where(table.c.count >= counter.limit).values(
                    count=0,
                    window_started_at=now,
                    blocked_until=lock_until,
                    expires_at=sa.func.greatest(table.c.expires_at, lock_until),
                )
            )
            locked = locked or bool(result.rowcount)  # type: ignore[attr-defined]
    if succeeded:
        _remember_familiar_address(db_session, reservation, now)
    purge_expired(db_session, now=now)
    return locked


def _remember_familiar_address(
    db_session: Session, reservation: Reservation, now: datetime
) -> None:
    until = now + FAMILIAR_ADDRESS_FOR
    db_session.execute(
        postgresql.insert(LoginThrottle)
        .values(
            scope=FAMILIAR_SCOPE,
            username=reservation.username,
            address=reservation.address,
            window_started_at=now,
            count=0,
            expires_at=until,
        )
        .on_conflict_do_update(
            index_elements=["scope", "username", "address"], set_={"expires_at": until}
        )
    )


def purge_expired(db_session: Session, *, now: datetime) -> None:
    """Delete a batch of counters that hold nothing any more."""
    table = THROTTLE_TABLE
    # SKIP LOCKED: rows another attempt holds are left for later, so purging
    # never waits on (or deadlocks with) a login in progress.
    expired = (
        sa.select(table.c.scope, table.c.username, table.c.address)
        .where(table.c.expires_at < now)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    db_session.execute(
        sa.delete(table).where(
            sa.tuple_(table.c.scope, table.c.username, table.c.address).in_(expired)
        )
    )


def clear_account(*, db_session: Session, username: str) -> int:
    """Forget every counter of an account: its lockouts at every address, its slow-down,
    its count of successful logins, its familiar addresses. Returns how many went.

    The counters of the addresses themselves stay: they hold other accounts'
    attempts too. Does not commit.
    """
    table = THROTTLE_TABLE
    # Counters of an address alone are keyed with username "" (no user has that name).
    assert username, "an account has a username"
    result = db_session.execute(sa.delete(table).where(table.c.username == username))
    return int(result.rowcount)  # type: ignore[attr-defined]
