"""Webhook deliveries, as the fleet worker makes them: one signed POST per attempt.

Each attempt is a job ("deliver_webhook"). It reads the delivery, vets the
address (fleet_service.webhooks.addresses) and POSTs to the address it vetted,
under a hard deadline, while holding one of the endpoint's two slots: a hanging
endpoint holds two of the workers' jobs at most, and others' deliveries go on.
The attempt, the delivery's new state and the next attempt's job are written in
one transaction, so a failed delivery always has its retry or its end.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import urllib3
from sqlalchemy.orm import Session

from fleet_service.events import defer_attempt
from fleet_service.webhooks.addresses import RefusedAddress, Target, vet
from fleet_service.webhooks.models import Event, Webhook, WebhookAttempt, WebhookDelivery
from shared.config import Settings
from shared.jobs import WorkerContext

logger = logging.getLogger("frota.webhooks")

USER_AGENT = "Frota-Webhooks/1"
CONNECT_TIMEOUT_SECONDS = 5.0
# What is read of an answer: its status is all that counts, the start of its body
# goes into the log of a failure.
MAX_RESPONSE_BYTES = 64 * 1024
ANSWER_IN_ERROR_CHARS = 200
# Retries: the base wait (WEBHOOK_RETRY_BASE_SECONDS) doubles at each failure up to
# this, and a delivery ends once an attempt fails this long after its first.
MAX_WAIT = timedelta(hours=2)
GIVE_UP_AFTER = timedelta(hours=24)
# POSTs in flight to one webhook at once, across all workers.
SLOTS_PER_WEBHOOK = 2
# A delivery that found both slots taken waits this long, and about as much again.
SLOT_WAIT_SECONDS = 2.0
# The advisory locks of the slots: (this + slot, 32 bits of the webhook id). The
# two-key form is its own key space, apart from any one-key lock.
SLOT_LOCK_CLASS = 0x57480000


@dataclass(frozen=True)
class Attempt:
    """What one attempt sends, read in a short transaction before the POST."""

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    url: str
    secret: str
    body: bytes
    # The attempts made before this one, as the job that makes it was told.
    after_attempts: int


@dataclass(frozen=True)
class Outcome:
    outcome: str
    response_code: int | None
    error: str | None
    duration_ms: int


def event_body(event: Event) -> bytes:
    """The bytes every attempt of every delivery of ``event`` sends (and signs)."""
    document = {
        "id": str(event.id),
        "type": event.type,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, body: bytes) -> str:
    """X-Frota-Signature: the HMAC-SHA256 of the exact body, keyed with the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(context: WorkerContext, delivery_id: uuid.UUID, after_attempts: int = 0) -> None:
    """Make a delivery's attempt number ``after_attempts + 1``, unless the delivery is
    gone, finished or past that attempt; on failure, defer the next.

    Each job names its attempt, so a job run again (its worker taken for dead after it
    had recorded the attempt) finds it made and does nothing: one chain of retries.
    """
    attempt = _prepare(context, delivery_id, after_attempts)
    if attempt is None:
        return
    with endpoint_slot(context.database.engine, attempt.webhook_id) as free:
        if not free:
            _wait_for_a_slot(context, attempt)
            return
        attempted_at = datetime.now(UTC)
        outcome = post(attempt, context.settings)
    _record(context, attempt, outcome, attempted_at)
    context.metrics.deliveries.labels(outcome.outcome).inc()


def _prepare(context: WorkerContext, delivery_id: uuid.UUID, after_attempts: int) -> Attempt | None:
    with context.database.sessionmaker() as db_session:
        delivery = db_session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            return None
        if delivery.attempts != after_attempts:
            return None
        webhook = db_session.get(Webhook, delivery.webhook_id)
        event = db_session.get(Event, delivery.event_id)
        if webhook is None or event is None:
            return None
        if not webhook.active:
            # Switched off since: what it missed is not sent when it is switched on again.
            delivery.status, delivery.finished_at = "failed", datetime.now(UTC)
            delivery.next_attempt_at = None
            db_session.commit()
            return None
        return Attempt(
            delivery_id=delivery.id,
            webhook_id=webhook.id,
            event_id=event.id,
            event_type=event.type,
            url=webhook.url,
            secret=webhook.secret,
            body=event_body(event),
            after_attempts=after_attempts,
        )


@contextmanager
def endpoint_slot(engine: sa.Engine, webhook_id: uuid.UUID) -> Iterator[bool]:
    """Take one of the webhook's slots for the block (True), or find none free (False).

    A slot is a transaction-level advisory lock on a connection of its own, held
    open for the block: leaving it rolls back and frees the slot, and PostgreSQL
    frees it too if the worker dies.
    """
    webhook_key = int.from_bytes(webhook_id.bytes[:4], "big", signed=True)
    with engine.connect() as connection:
        for slot in range(SLOTS_PER_WEBHOOK):
            taken = sa.func.pg_try_advisory_xact_lock(
                sa.cast(SLOT_LOCK_CLASS + slot, sa.Integer), sa.cast(webhook_key, sa.Integer)
            )
            if connection.scalar(sa.select(taken)):
                yield True
                return
        yield False


def _wait_for_a_slot(context: WorkerContext, attempt: Attempt) -> None:
    """Try again later, as the same attempt of the same delivery.

    Shortly while the endpoint answers (its slots free up in moments); while its last
    attempt failed, as long as an attempt may take: a hanging endpoint holds its slots
    that long, and its queued deliveries must not spin the worker meanwhile.
    """
    with context.database.sessionmaker() as db_session:
        delivery = db_session.get(WebhookDelivery, attempt.delivery_id, with_for_update=True)
        if delivery is None or delivery.status != "pending":
            return
        last_outcome = db_session.scalar(
            sa.select(WebhookAttempt.outcome)
            .where(WebhookAttempt.webhook_id == attempt.webhook_id)
            .order_by(WebhookAttempt.attempted_at.desc(), WebhookAttempt.id.desc())
            .limit(1)
        )
        wait = SLOT_WAIT_SECONDS
        if last_outcome not in (None, "delivered"):
            wait = max(wait, context.settings.webhook_timeout_seconds)
        later = datetime.now(UTC) + timedelta(seconds=wait * random.uniform(1, 2))
        delivery.next_attempt_at = later
        defer_attempt(db_session, delivery, schedule_at=later)
        db_session.commit()


def post(attempt: Attempt, settings: Settings) -> Outcome:
    """POST the attempt to the address its URL resolves to now, if that may be sent to."""
    started = time.monotonic()

    def ended(name: str, code: int | None = None, error: str | None = None) -> Outcome:
        duration_ms = round((time.monotonic() - started) * 1000)
        return Outcome(name, code, error[:500] if error else None, duration_ms)

    try:
        target = vet(attempt.url, allow_private=settings.webhook_allow_private_networks)
    except RefusedAddress as refusal:
        return ended("refused", error=str(refusal))
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Frota-Event": attempt.event_type,
        "X-Frota-Delivery": str(attempt.delivery_id),
        "X-Frota-Signature": signature(attempt.secret, attempt.body),
    }
    timeout = settings.webhook_timeout_seconds
    try:
        status, answer = _send(target, headers, attempt.body, timeout=timeout)
    except TimeoutError:
        return ended("failed", error=f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
        return ended("failed", error=f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return ended("delivered", status)
    text = answer[:ANSWER_IN_ERROR_CHARS].decode(errors="replace")
    return ended("failed", status, f"answered {status}" + (f": {text}" if text else ""))


def _connection(target: Target, timeout: float) -> urllib3.connection.HTTPConnection:
    # To the vetted address, by the URL's name: its Host header, and for https its
    # certificate's name (SNI and the check), as if the name had been connected to.
    if target.scheme == "http":
        return urllib3.connection.HTTPConnection(target.address, target.port, timeout=timeout)
    return urllib3.connection.HTTPSConnection(
        target.address,
        target.port,
        timeout=timeout,
        server_hostname=target.hostname,
        assert_hostname=target.hostname,
        cert_reqs="CERT_REQUIRED",
    )


def _send(
    target: Target, headers: dict[str, str], body: bytes, *, timeout: float
) -> tuple[int, bytes]:
    """The answer's status and the start of its body, all within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    connection = _connection(target, min(CONNECT_TIMEOUT_SECONDS, timeout))
    try:
        with _broken_off_after(connection, timeout) as expired:
            try:
                connection.connect()
                # Each wait of the socket ends by the deadline; the timer ends the whole.
                connection.timeout = max(deadline - time.monotonic(), 0.001)
                connection.request(
                    "POST", target.path, body=body, headers=headers, preload_content=False
                )
                response = connection.getresponse()
                # Not decoded: what the receiver compressed is not ours to inflate.
                answer = response.read(MAX_RESPONSE_BYTES, decode_content=False)
            except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError):
                if expired.is_set():
                    raise TimeoutError from None
                raise
            if expired.is_set():
                # Cut off mid-answer, which can still parse: the end of the stream ends
                # the headers as well as a blank line does.
                raise TimeoutError
            return response.status, answer
    finally:
        connection.close()


@contextmanager
def _broken_off_after(
    connection: urllib3.connection.HTTPConnection, seconds: float
) -> Iterator[threading.Event]:
    """Shut the connection's socket ``seconds`` from now, if the block is still in it.

    Socket timeouts bound each wait, not their sum: an answer sent a byte at a
    time would keep a worker for as long as the receiver likes.
    """
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with suppress(OSError):
                # The plain socket's shutdown: it wakes a read blocked in another thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()


def _record(
    context: WorkerContext, attempt: Attempt, outcome: Outcome, attempted_at: datetime
) -> None:
    """The attempt, the delivery's new state and, after a failure, its retry: one transaction."""
    with context.database.sessionmaker() as db_session:
        delivery = db_session.get(WebhookDelivery, attempt.delivery_id, with_for_update=True)
        if delivery is None:
            return  # its webhook was deleted meanwhile, and the log with it
        delivery.attempts += 1
        # Another run of the same job (its worker taken for dead while it was sending)
        # recorded its attempt first: this one is logged, and the retry left to that one.
        first_run = delivery.attempts == attempt.after_attempts + 1
        next_retry_at = (
            _settle(db_session, delivery, outcome, attempted_at, context.settings)
            if first_run or outcome.outcome == "delivered"
            else None
        )
        db_session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                webhook_id=attempt.webhook_id,
                event_id=attempt.event_id,
                event_type=attempt.event_type,
                attempt=delivery.attempts,
                outcome=outcome.outcome,
                response_code=outcome.response_code,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
                attempted_at=attempted_at,
                next_retry_at=next_retry_at,
            )
        )
        db_session.commit()
    logger.info(
        "webhook %s delivery %s attempt %d: %s%s",
        attempt.webhook_id,
        attempt.delivery_id,
        delivery.attempts,
        outcome.outcome,
        f" ({outcome.error})" if outcome.error else "",
    )


def _settle(
    db_session: Session,
    delivery: WebhookDelivery,
    outcome: Outcome,
    attempted_at: datetime,
    settings: Settings,
) -> datetime | None:
    """The delivery's state after an attempt, and when the next attempt is (its job deferred)."""
    if delivery.status != "pending":
        # Finished meanwhile (a stalled job run twice): the attempt is only logged.
        return None
    if outcome.outcome == "delivered":
        delivery.status, delivery.finished_at = "delivered", datetime.now(UTC)
        delivery.next_attempt_at = None
        return None
    delivery.next_attempt_at = _next_retry(db_session, delivery, attempted_at, settings)
    if delivery.next_attempt_at is None:
        delivery.status, delivery.finished_at = "failed", datetime.now(UTC)
    else:
        defer_attempt(db_session, delivery, schedule_at=delivery.next_attempt_at)
    return delivery.next_attempt_at


def _next_retry(
    db_session: Session, delivery: WebhookDelivery, attempted_at: datetime, settings: Settings
) -> datetime | None:
    """When a failed delivery is tried again: None once an attempt fails 24 h after its first."""
    first = db_session.scalar(
        sa.select(sa.func.min(WebhookAttempt.attempted_at)).where(
            WebhookAttempt.delivery_id == delivery.id
        )
    )
    if first is not None and attempted_at - first >= GIVE_UP_AFTER:
        return None
    # Doubling from the base (at least a second), to MAX_WAIT; the exponent is bounded
    # so that the product stays a number long after the cap is reached.
    doubled = settings.webhook_retry_base_seconds * 2 ** min(delivery.attempts - 1, 32)
    wait = max(1.0, min(doubled, MAX_WAIT.total_seconds()))
    # A little jitter, so that the retries of one outage do not all come back at once.
    return attempted_at + timedelta(seconds=wait * random.uniform(0.9, 1.0))


def purge_old_deliveries(context: WorkerContext) -> int:
    """Delete the events older than EVENTS_KEEP_DAYS whose deliveries are all finished.

    Their deliveries and attempts go with them (cascade). Returns how many events went.
    """
    cutoff = datetime.now(UTC) - timedelta(days=context.settings.events_keep_days)
    unfinished = sa.select(WebhookDelivery.id).where(
        WebhookDelivery.event_id == Event.id, WebhookDelivery.status == "pending"
    )
    purge = (
        sa.delete(Event)
        .where(Event.occurred_at < cutoff, ~sa.exists(unfinished))
        .returning(Event.id)
        .execution_options(synchronize_session=False)
    )
    with context.database.sessionmaker() as db_session:
        purged = len(db_session.scalars(purge).all())
        db_session.commit()
    if purged:
        logger.info(
            "purged %d event(s) older than %d days", purged, context.settings.events_keep_days
        )
    return purged
