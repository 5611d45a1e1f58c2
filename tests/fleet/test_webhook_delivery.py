"""Webhook deliveries as the worker makes them, to a real receiver over HTTP.

Each test calls the worker's task body (fleet_service.webhooks.delivery.deliver)
itself, once per job the queue would run, on a database of the module's own: a
delivery opens sessions and connections of its own (and runs in threads at once),
so it needs committed rows, not the test's one rolled-back transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from fleet_service.events import record_event
from fleet_service.webhooks.delivery import deliver, purge_old_deliveries
from fleet_service.webhooks.models import Event, Webhook, WebhookAttempt, WebhookDelivery
from frota.database import migrate
from shared.db import Database, make_engine
from shared.jobs import WorkerContext, WorkerMetrics
from tests.conftest import make_settings
from tests.support.database import scratch_database
from tests.support.receivers import Receiver, receiving

SECRET = "a-secret-of-at-least-16"
BASE_WAIT = 30.0
TIMEOUT = 1.0
# What a delivery to a local receiver that answers at once takes at most, here.
PROMPTLY = 1.0


@pytest.fixture(scope="module")
def committed_url(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url, "webhooks") as url:
        migrate(url)
        yield url


@pytest.fixture
def context(tmp_path, committed_url, redis_url) -> Iterator[WorkerContext]:
    """A worker's context on the module's database (receivers are local: private allowed)."""
    settings = make_settings(
        tmp_path,
        committed_url,
        redis_url,
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        WEBHOOK_TIMEOUT_SECONDS=str(TIMEOUT),
        WEBHOOK_RETRY_BASE_SECONDS=str(BASE_WAIT),
    )
    database = Database(make_engine(committed_url, settings))
    yield WorkerContext(settings, database, WorkerMetrics("fleet"))
    with database.engine.begin() as conn:
        conn.execute(
            sa.text("TRUNCATE fleet.webhooks, fleet.events, fleet.procrastinate_jobs CASCADE")
        )
    database.engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


def add_webhook(context, url, *, events=("trip.checked_out",), active=True) -> Webhook:
    with context.database.sessionmaker() as db_session:
        webhook = Webhook(
            url=url, events=list(events), secret=SECRET, active=active, author_user_id=uuid.uuid4()
        )
        db_session.add(webhook)
        db_session.commit()
        return webhook


def raise_event(context, event_type="trip.checked_out", **options) -> list[WebhookDelivery]:
    """Record an event in a committed change; its deliveries, in the order of their webhooks."""
    with context.database.sessionmaker() as db_session:
        event = record_event(db_session, event_type, {"trip": "t-1"}, **options)
        db_session.commit()
        return list(
            db_session.scalars(
                sa.select(WebhookDelivery)
                .join(Webhook)
                .where(WebhookDelivery.event_id == event.id)
                .order_by(Webhook.created_at)
            )
        )


def delivery_now(context, delivery_id) -> WebhookDelivery | None:
    with context.database.sessionmaker() as db_session:
        return db_session.get(WebhookDelivery, delivery_id)


def attempts_of(context, delivery_id) -> list[WebhookAttempt]:
    with context.database.sessionmaker() as db_session:
        return list(
            db_session.scalars(
                sa.select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.attempt)
            )
        )


def jobs_of(context, delivery_id) -> list[datetime]:
    """When each queued job of the delivery is due, in the order they were deferred."""
    with context.database.engine.connect() as conn:
        return list(
            conn.scalars(
                sa.text(
                    "SELECT scheduled_at FROM fleet.procrastinate_jobs"
                    " WHERE task_name = 'fleet.deliver_webhook'"
                    " AND args->>'delivery_id' = :id AND status = 'todo' ORDER BY id"
                ),
                {"id": str(delivery_id)},
            )
        )


def run_job(context, delivery_id) -> None:
    """Run the delivery's latest job, as the worker would: its arguments, its attempt."""
    with context.database.engine.connect() as conn:
        args = conn.scalar(
            sa.text(
                "SELECT args FROM fleet.procrastinate_jobs"
                " WHERE task_name = 'fleet.deliver_webhook'"
                " AND args->>'delivery_id' = :id ORDER BY id DESC LIMIT 1"
            ),
            {"id": str(delivery_id)},
        )
    assert args is not None, "the delivery has no job"
    deliver(context, uuid.UUID(args["delivery_id"]), args.get("after_attempts", 0))


def wait_of(attempt: WebhookAttempt) -> float:
    assert attempt.next_retry_at is not None
    return (attempt.next_retry_at - attempt.attempted_at).total_seconds()


def test_a_failing_receiver_gets_the_delivery_on_a_retry_with_the_same_id_and_signature(
    context, receiver
):
    add_webhook(context, receiver.url)
    (delivery,) = raise_event(context)
    receiver.fail_next(2, status=503)

    run_job(context, delivery.id)
    (first,) = attempts_of(context, delivery.id)
    assert (first.attempt, first.outcome, first.response_code) == (1, "failed", 503)
    assert first.error is not None
    assert first.error.startswith("answered 503")
    assert 0 <= first.duration_ms < 1000
    assert 0.9 * BASE_WAIT <= wait_of(first) <= BASE_WAIT
    pending = delivery_now(context, delivery.id)
    assert pending is not None
    assert (pending.status, pending.attempts, pending.next_attempt_at) == (
        "pending",
        1,
        first.next_retry_at,
    )
    # The event's own job, and the retry's, due when the log says.
    assert jobs_of(context, delivery.id)[1:] == [first.next_retry_at]

    run_job(context, delivery.id)
    run_job(context, delivery.id)
    first, second, third = attempts_of(context, delivery.id)
    assert (second.outcome, second.response_code) == ("failed", 503)
    assert 0.9 * 2 * BASE_WAIT <= wait_of(second) <= 2 * BASE_WAIT
    assert (third.attempt, third.outcome, third.response_code, third.error) == (
        3,
        "delivered",
        204,
        None,
    )
    assert third.next_retry_at is None
    done = delivery_now(context, delivery.id)
    assert done is not None
    assert (done.status, done.attempts, done.next_attempt_at) == ("delivered", 3, None)
    assert done.finished_at is not None
    # No job after the success: the two retries' (run here by hand) and the first.
    assert jobs_of(context, delivery.id)[1:] == [first.next_retry_at, second.next_retry_at]

    posts = receiver.wait_for(3)
    assert len(posts) == 3
    for post in posts:
        assert post.path == "/hooks"
        assert post.headers["X-Frota-Delivery"] == str(delivery.id)
        assert post.headers["X-Frota-Event"] == "trip.checked_out"
        assert post.headers["Content-Type"] == "application/json"
        expected = hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
        assert post.headers["X-Frota-Signature"] == f"sha256={expected}"
        assert post.body == posts[0].body
    body = json.loads(posts[0].body)
    assert body["id"] == str(delivery.event_id)
    assert body["type"] == "trip.checked_out"
    assert body["data"] == {"trip": "t-1"}
    assert datetime.fromisoformat(body["occurred_at"]) <= datetime.now(UTC)


def test_a_signature_is_of_the_webhooks_own_secret(context, receiver):
    add_webhook(context, receiver.url)
    add_webhook(context, receiver.url + "/other")
    with context.database.sessionmaker() as db_session:
        db_session.execute(
            sa.update(Webhook).where(Webhook.url.endswith("/other")).values(secret="x" * 20)
        )
        db_session.commit()
    for delivery in raise_event(context):
        run_job(context, delivery.id)
    first, second = sorted(receiver.wait_for(2), key=lambda post: post.path)
    assert first.body == second.body
    for post, secret in [(first, SECRET), (second, "x" * 20)]:
        expected = hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
        assert post.headers["X-Frota-Signature"] == f"sha256={expected}"
    # Two deliveries of one event: one body id, two delivery ids.
    assert first.headers["X-Frota-Delivery"] != second.headers["X-Frota-Delivery"]


def test_a_ping_is_delivered_as_an_event(context, receiver):
    webhook = add_webhook(context, receiver.url, events=["alert.raised"])
    (delivery,) = raise_event(context, "ping", only_webhook_id=webhook.id)
    run_job(context, delivery.id)
    (post,) = receiver.wait_for(1)
    assert post.headers["X-Frota-Event"] == "ping"
    assert json.loads(post.body)["type"] == "ping"
    assert attempts_of(context, delivery.id)[0].outcome == "delivered"


def test_the_wait_doubles_after_each_failure_up_to_two_hours(context, receiver):
    add_webhook(context, receiver.url)
    (delivery,) = raise_event(context)
    receiver.fail_next(12)
    for _ in range(12):
        run_job(context, delivery.id)
    attempts = attempts_of(context, delivery.id)
    assert [a.outcome for a in attempts] == ["failed"] * 12
    waits = [wait_of(attempt) for attempt in attempts]
    # 30 s, 1 min, 2 min ... 64 min, then 2 h (less up to 10 % of jitter).
    expected = [min(BASE_WAIT * 2**n, 7200.0) for n in range(12)]
    assert expected[-4:] == [7200.0] * 4
    for wait, most in zip(waits, expected, strict=True):
        assert 0.9 * most <= wait <= most
    assert jobs_of(context, delivery.id)[1:] == [a.next_retry_at for a in attempts]


def move_first_attempt(context, delivery_id, ago: timedelta) -> None:
    """Pretend the delivery's first attempt was ``ago``: time passes without a sleep."""
    with context.database.sessionmaker() as db_session:
        db_session.execute(
            sa.update(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.attempt == 1)
            .values(attempted_at=sa.func.now() - ago)
        )
        db_session.commit()


def test_a_delivery_is_given_up_once_an_attempt_fails_24_hours_after_the_first(context, receiver):
    add_webhook(context, receiver.url)
    (delivery,) = raise_event(context)
    receiver.fail_next(3)
    run_job(context, delivery.id)
    move_first_attempt(context, delivery.id, timedelta(hours=23, minutes=59))
    run_job(context, delivery.id)
    second = attempts_of(context, delivery.id)[1]
    assert second.next_retry_at is not None
    jobs = jobs_of(context, delivery.id)
    assert len(jobs) == 3

    move_first_attempt(context, delivery.id, timedelta(hours=24))
    run_job(context, delivery.id)
    last = attempts_of(context, delivery.id)[2]
    assert (last.outcome, last.next_retry_at) == ("failed", None)
    failed = delivery_now(context, delivery.id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 3, None)
    assert failed.finished_at is not None
    assert jobs_of(context, delivery.id) == jobs  # no job for a fourth attempt

    # A job of it that runs anyway (a stalled one put back) sends nothing.
    run_job(context, delivery.id)
    assert len(receiver.received) == 3
    assert len(attempts_of(context, delivery.id)) == 3


def test_a_hanging_receiver_is_cut_off_and_another_subscriber_is_delivered_meanwhile(
    context, receiver
):
    context = dataclasses.replace(
        context, settings=context.settings.replace(webhook_timeout_seconds=2.0)
    )
    receiver.hang()
    add_webhook(context, receiver.url)
    with receiving() as other:
        add_webhook(context, other.url)
        hanging, answered = raise_event(context)
        with ThreadPoolExecutor(1) as worker:
            started = time.monotonic()
            held = worker.submit(deliver, context, hanging.id)
            receiver.wait_for(1)

            other_started = time.monotonic()
            run_job(context, answered.id)
            assert time.monotonic() - other_started < PROMPTLY
            assert other.wait_for(1)
            assert not held.done()
            held.result(timeout=5)
            elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 2.0 + PROMPTLY * 2
    assert attempts_of(context, answered.id)[0].outcome == "delivered"
    (cut_off,) = attempts_of(context, hanging.id)
    assert (cut_off.outcome, cut_off.response_code) == ("failed", None)
    assert cut_off.error == "no answer within 2 s"
    assert 2000 <= cut_off.duration_ms < 3000
    assert cut_off.next_retry_at is not None


def test_an_answer_a_byte_at_a_time_is_cut_off_at_the_timeout(context, receiver):
    receiver.drip()
    add_webhook(context, receiver.url)
    (delivery,) = raise_event(context)
    started = time.monotonic()
    run_job(context, delivery.id)
    elapsed = time.monotonic() - started
    # The receiver sends a byte every 0.2 s: each read is quick, their sum is not.
    assert TIMEOUT <= elapsed < TIMEOUT + PROMPTLY
    (attempt,) = attempts_of(context, delivery.id)
    assert (attempt.outcome, attempt.error) == ("failed", "no answer within 1 s")


def test_a_third_post_to_one_endpoint_waits_for_a_slot_without_counting_an_attempt(
    context, receiver
):
    context = dataclasses.replace(
        context, settings=context.settings.replace(webhook_timeout_seconds=3.0)
    )
    receiver.hang()
    add_webhook(context, receiver.url)
    deliveries = [raise_event(context)[0] for _ in range(3)]
    with ThreadPoolExecutor(2) as worker:
        held = [worker.submit(deliver, context, d.id) for d in deliveries[:2]]
        receiver.wait_for(2)

        third = deliveries[2]
        before = datetime.now(UTC)
        started = time.monotonic()
        run_job(context, third.id)
        assert time.monotonic() - started < PROMPTLY
        waiting = delivery_now(context, third.id)
        assert waiting is not None
        assert (waiting.status, waiting.attempts) == ("pending", 0)
        assert waiting.next_attempt_at is not None
        assert (
            before + timedelta(seconds=2)
            <= waiting.next_attempt_at
            <= datetime.now(UTC) + timedelta(seconds=4)
        )
        assert attempts_of(context, third.id) == []
        assert jobs_of(context, third.id)[1:] == [waiting.next_attempt_at]
        assert len(receiver.received) == 2
        receiver.release()
        for future in held:
            future.result(timeout=5)

    # The slots are free again: the rescheduled job goes through.
    run_job(context, third.id)
    assert len(receiver.wait_for(3)) == 3
    (attempt,) = attempts_of(context, third.id)
    assert (attempt.attempt, attempt.outcome) == (1, "delivered")


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        ("http://127.0.0.1:{port}/hooks", "must be an https URL"),
        # 127.0.0.1 or ::1, as the resolver has it.
        ("https://localhost:{port}/hooks", "the host resolves to "),
    ],
)
def test_an_address_refused_at_delivery_time_is_not_sent_to(context, receiver, template, refusal):
    # Saved while it pointed elsewhere; it points inside by the time it is delivered.
    webhook = add_webhook(context, "https://8.8.8.8/hooks")
    url = template.format(port=receiver.server.server_port)
    with context.database.sessionmaker() as db_session:
        db_session.execute(sa.update(Webhook).where(Webhook.id == webhook.id).values(url=url))
        db_session.commit()
    strict = dataclasses.replace(
        context, settings=context.settings.replace(webhook_allow_private_networks=False)
    )
    (delivery,) = raise_event(context)
    run_job(strict, delivery.id)

    (attempt,) = attempts_of(context, delivery.id)
    assert (attempt.outcome, attempt.response_code) == ("refused", None)
    assert attempt.error is not None
    assert attempt.error.startswith(refusal)
    assert receiver.received == []
    # What a name resolves to may change: the delivery is tried again as a failure.
    assert attempt.next_retry_at is not None


def test_a_deleted_or_deactivated_webhooks_pending_delivery_is_not_sent(context, receiver):
    deleted = add_webhook(context, receiver.url)
    add_webhook(context, receiver.url)
    gone, switched_off = raise_event(context)
    with context.database.sessionmaker() as db_session:
        db_session.execute(sa.delete(Webhook).where(Webhook.id == deleted.id))
        db_session.execute(
            sa.update(Webhook).where(Webhook.id == switched_off.webhook_id).values(active=False)
        )
        db_session.commit()

    run_job(context, gone.id)
    run_job(context, switched_off.id)
    assert receiver.received == []
    assert delivery_now(context, gone.id) is None
    ended = delivery_now(context, switched_off.id)
    assert ended is not None
    assert (ended.status, ended.attempts) == ("failed", 0)
    assert attempts_of(context, switched_off.id) == []
    assert len(jobs_of(context, switched_off.id)) == 1  # its first, and no retry


def wait_until_blocked(context) -> None:
    """Return once a session of the database waits for a lock (AssertionError after 5 s)."""
    blocked = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 5
    with context.database.engine.connect() as conn:
        while not conn.scalar(blocked):
            assert time.monotonic() < deadline, "nothing waited for a lock"
            time.sleep(0.02)
            conn.rollback()


def test_an_event_raised_while_its_webhook_is_deleted_has_no_delivery_for_it(context):
    webhook = add_webhook(context, "https://8.8.8.8/hooks")
    with context.database.sessionmaker() as deleting, ThreadPoolExecutor(1) as other:
        deleting.execute(sa.delete(Webhook).where(Webhook.id == webhook.id))
        raised = other.submit(raise_event, context)
        wait_until_blocked(context)
        deleting.commit()
        # Recorded, and committed, without a delivery to the webhook gone.
        assert raised.result(timeout=5) == []
    with context.database.sessionmaker() as db_session:
        assert db_session.scalar(sa.select(sa.func.count()).select_from(Event)) == 1


def test_the_purge_removes_old_events_whose_deliveries_are_all_finished(context, receiver):
    add_webhook(context, receiver.url)
    old = datetime.now(UTC) - timedelta(days=context.settings.events_keep_days, minutes=1)
    recent = old + timedelta(minutes=2)
    delivered, failed, pending, fresh = (
        raise_event(context, occurred_at=moment)[0] for moment in (old, old, old, recent)
    )
    for finished in (delivered, fresh):
        run_job(context, finished.id)
    receiver.fail_next(1)
    run_job(context, failed.id)
    with context.database.sessionmaker() as db_session:
        db_session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == failed.id)
            .values(status="failed", finished_at=sa.func.now())
        )
        unheard = record_event(db_session, "alert.raised", {}, occurred_at=old)
        db_session.commit()

    assert purge_old_deliveries(context) == 3
    with context.database.sessionmaker() as db_session:
        left = set(db_session.scalars(sa.select(Event.id)))
        assert left == {pending.event_id, fresh.event_id}
        assert unheard.id not in left
        logged = set(db_session.scalars(sa.select(WebhookAttempt.delivery_id)))
        assert logged == {fresh.id}
    assert purge_old_deliveries(context) == 0


def test_a_job_run_again_after_its_attempt_was_recorded_sends_nothing(context, receiver):
    """Its worker taken for dead after the attempt was logged: the job runs again, and
    finds its attempt made — one chain of retries, not two."""
    add_webhook(context, receiver.url)
    (delivery,) = raise_event(context)
    receiver.fail_next(1, status=500)
    run_job(context, delivery.id)
    receiver.wait_for(1)
    jobs_before = jobs_of(context, delivery.id)

    deliver(context, delivery.id, 0)  # the first job, again

    assert len(receiver.received) == 1
    assert [attempt.attempt for attempt in attempts_of(context, delivery.id)] == [1]
    assert jobs_of(context, delivery.id) == jobs_before


def test_a_second_run_under_way_at_once_logs_its_attempt_and_leaves_the_retry_to_the_first(
    context, receiver
):
    """Both runs of one job sent (the retried one while the first was still sending):
    both attempts are logged, one retry is deferred."""
    add_webhook(context, receiver.url)
    (delivery,) = raise_event(context)
    receiver.fail_next(2, status=500)
    receiver.hang()
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(deliver, context, delivery.id, 0) for _ in range(2)]
        receiver.wait_for(2)
        receiver.release()
        for run in runs:
            run.result(timeout=10)
    assert [attempt.attempt for attempt in attempts_of(context, delivery.id)] == [1, 2]
    retries = [a.next_retry_at for a in attempts_of(context, delivery.id) if a.next_retry_at]
    assert len(retries) == 1
    assert len(jobs_of(context, delivery.id)) == 2  # the event's job and one retry


def test_while_an_endpoint_fails_a_delivery_without_a_slot_waits_as_long_as_an_attempt(
    context, receiver
):
    """Its queued deliveries do not spin the worker while a hanging endpoint holds both
    slots for the whole timeout."""
    timeout = 3.0
    context = dataclasses.replace(
        context, settings=context.settings.replace(webhook_timeout_seconds=timeout)
    )
    add_webhook(context, receiver.url)
    receiver.fail_next(1, status=500)
    (failed,) = raise_event(context)
    run_job(context, failed.id)
    receiver.hang()
    deliveries = [raise_event(context)[0] for _ in range(3)]
    with ThreadPoolExecutor(2) as worker:
        held = [worker.submit(deliver, context, d.id) for d in deliveries[:2]]
        receiver.wait_for(3)
        before = datetime.now(UTC)
        run_job(context, deliveries[2].id)
        waiting = delivery_now(context, deliveries[2].id)
        assert waiting is not None
        assert waiting.next_attempt_at is not None
        assert (
            before + timedelta(seconds=timeout)
            <= waiting.next_attempt_at
            <= datetime.now(UTC) + timedelta(seconds=2 * timeout)
        )
        receiver.release()
        for future in held:
            future.result(timeout=10)
