"""The webhooks API: subscriptions, their URL rules, their ping and delivery log, and the
outbox rows (event, delivery, job) a change writes in its own transaction."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from fleet_service.events import record_event
from fleet_service.webhooks.models import (
    EVENT_TYPES,
    Event,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from tests.conftest import make_settings
from tests.fleet.conftest import fleet_api_with
from tests.support.receivers import receiving

WEBHOOKS = "/api/v1/fleet/webhooks"
SECRET = "s3cret-of-sixteen-or-more"
# A public address needs no DNS (the tests run offline) and is never connected to here.
PUBLIC_URL = "https://8.8.8.8/hooks"


TRIP = {"purpose": "deliveries"}


def subscribe(fleet_api, user, url=PUBLIC_URL, events=("trip.checked_out",), **extra):
    body = {"url": url, "events": list(events), "secret": SECRET, **extra}
    return fleet_api.post(WEBHOOKS, user=user, json=body)


def jobs_of(db_session, delivery_ids):
    """The queued delivery jobs of these deliveries: (delivery id, status)."""
    rows = db_session.execute(
        sa.text(
            "SELECT args->>'delivery_id', status FROM fleet.procrastinate_jobs"
            " WHERE task_name = 'fleet.deliver_webhook' AND args->>'delivery_id' = ANY(:ids)"
        ),
        {"ids": [str(i) for i in delivery_ids]},
    )
    return sorted(tuple(row) for row in rows)


def test_a_manager_creates_lists_reads_changes_and_deletes_a_webhook(
    fleet_api, db_session, manager
):
    created = subscribe(fleet_api, manager, events=["trip.checked_out", "alert.raised"])
    assert created.status_code == 201, created.json
    webhook = created.json
    assert webhook["url"] == PUBLIC_URL
    assert webhook["events"] == ["trip.checked_out", "alert.raised"]
    assert webhook["active"] is True
    assert "secret" not in webhook

    listed = fleet_api.get(WEBHOOKS, user=manager).json
    assert [w["id"] for w in listed["items"]] == [webhook["id"]]
    assert "secret" not in listed["items"][0]
    one = fleet_api.get(f"{WEBHOOKS}/{webhook['id']}", user=manager)
    assert one.status_code == 200
    assert one.json == webhook | {"updated_at": one.json["updated_at"]}

    changes = {"events": ["inspection.failed"], "active": False, "secret": "another-secret-16+"}
    patched = fleet_api.call("PATCH", f"{WEBHOOKS}/{webhook['id']}", user=manager, json=changes)
    assert patched.status_code == 200, patched.json
    assert patched.json["events"] == ["inspection.failed"]
    assert patched.json["active"] is False
    assert patched.json["url"] == PUBLIC_URL
    assert "secret" not in patched.json
    row = db_session.get(Webhook, uuid.UUID(webhook["id"]), populate_existing=True)
    assert row is not None
    assert row.secret == "another-secret-16+"

    assert fleet_api.delete(f"{WEBHOOKS}/{webhook['id']}", user=manager).status_code == 204
    gone = fleet_api.get(f"{WEBHOOKS}/{webhook['id']}", user=manager)
    assert gone.status_code == 404
    assert gone.json["error"]["code"] == "webhook_not_found"
    assert fleet_api.delete(f"{WEBHOOKS}/{webhook['id']}", user=manager).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["trip.teleported"]}, "events"),
        ({"events": []}, "events"),
        ({"events": ["trip.checked_in", "trip.checked_in"]}, "events"),
        # ping is sent by POST /test, never subscribed to.
        ({"events": ["ping"]}, "events"),
        ({"secret": "short"}, "secret"),
        ({"url": ""}, "url"),
    ],
)
def test_a_webhook_with_a_bad_field_is_422_on_that_field(fleet_api, manager, body, field):
    response = fleet_api.post(
        WEBHOOKS,
        user=manager,
        json={"url": PUBLIC_URL, "events": ["trip.checked_out"], "secret": SECRET} | body,
    )
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]


def test_webhooks_are_for_managers_only(fleet_api, manager, driver_user):
    webhook = subscribe(fleet_api, manager).json
    assert subscribe(fleet_api, driver_user).status_code == 403
    for method, path in [
        ("GET", WEBHOOKS),
        ("GET", f"{WEBHOOKS}/{webhook['id']}"),
        ("PATCH", f"{WEBHOOKS}/{webhook['id']}"),
        ("DELETE", f"{WEBHOOKS}/{webhook['id']}"),
        ("POST", f"{WEBHOOKS}/{webhook['id']}/test"),
        ("GET", f"{WEBHOOKS}/{webhook['id']}/deliveries"),
    ]:
        body = {"active": False} if method == "PATCH" else None
        response = fleet_api.call(method, path, user=driver_user, json=body)
        assert response.status_code == 403, (method, path)
    assert fleet_api.get(f"{WEBHOOKS}/{webhook['id']}", user=manager).json["active"] is True


INTERNAL_URLS = [
    "http://8.8.8.8/hooks",  # plain http
    "ftp://8.8.8.8/hooks",
    "https://user:password@8.8.8.8/hooks",
    "https://127.0.0.1/hooks",
    "https://127.8.9.10/hooks",
    "https://localhost/hooks",
    "https://0.0.0.0/hooks",
    "https://10.1.2.3/hooks",
    "https://172.16.0.1/hooks",
    "https://192.168.1.10/hooks",
    "https://100.64.0.1/hooks",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data",  # the cloud's metadata service
    "https://169.254.10.20/hooks",
    "https://[::1]/hooks",
    "https://[::]/hooks",
    "https://[fc00::1]/hooks",
    "https://[fd12:3456::1]/hooks",
    "https://[fe80::1]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[::ffff:10.0.0.1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://[2002:a9fe:a9fe::1]/hooks",  # 6to4 of 169.254.169.254
    "https://224.0.0.1/hooks",
    "https://no-such-host.invalid/hooks",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_a_url_that_is_not_https_to_a_public_address_is_refused(fleet_api, manager, url):
    response = subscribe(fleet_api, manager, url=url)
    assert response.status_code == 422, response.json
    assert set(response.json["error"]["details"]) == {"url"}
    assert fleet_api.get(WEBHOOKS, user=manager).json["items"] == []


def test_a_change_to_an_internal_url_is_refused_and_changes_nothing(fleet_api, manager):
    webhook = subscribe(fleet_api, manager).json
    path = f"{WEBHOOKS}/{webhook['id']}"
    for url in ("https://169.254.169.254/", "https://[::ffff:192.168.0.1]/"):
        response = fleet_api.call(
            "PATCH", path, user=manager, json={"url": url, "events": ["alert.raised"]}
        )
        assert response.status_code == 422
        assert "url" in response.json["error"]["details"]
    assert fleet_api.get(path, user=manager).json == webhook


@pytest.fixture
def private_fleet_api(tmp_path, database_url, redis_url, database, auth_url, media_url):
    """The fleet API of a deployment that allows private networks (and plain http)."""
    settings = make_settings(
        tmp_path, database_url, redis_url, WEBHOOK_ALLOW_PRIVATE_NETWORKS="true"
    )
    with fleet_api_with(settings, database, auth=auth_url, media=media_url) as api:
        yield api


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hooks", "https://localhost/hooks", "https://[fd00::1]/", PUBLIC_URL],
)
def test_private_networks_and_http_are_allowed_when_the_settings_say_so(
    private_fleet_api, manager, url
):
    response = subscribe(private_fleet_api, manager, url=url)
    assert response.status_code == 201, response.json
    assert response.json["url"] == url


def test_the_test_endpoint_queues_a_ping_for_that_webhook_alone(fleet_api, db_session, manager):
    webhook = subscribe(fleet_api, manager).json
    subscribe(fleet_api, manager, events=list(EVENT_TYPES))

    response = fleet_api.post(f"{WEBHOOKS}/{webhook['id']}/test", user=manager)
    assert response.status_code == 202, response.json
    delivery_id = uuid.UUID(response.json["delivery_id"])
    delivery = db_session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    assert (str(delivery.webhook_id), delivery.status, delivery.attempts) == (
        webhook["id"],
        "pending",
        0,
    )
    event = db_session.get(Event, delivery.event_id)
    assert event is not None
    assert str(event.id) == response.json["event_id"]
    assert (event.type, event.data) == ("ping", {"webhook_id": webhook["id"]})
    # The other webhook hears every event type, and still not this ping.
    assert (
        db_session.scalar(sa.select(sa.func.count()).where(WebhookDelivery.event_id == event.id))
        == 1
    )
    assert jobs_of(db_session, [delivery_id]) == [(str(delivery_id), "todo")]


def test_an_inactive_or_unknown_webhook_gets_no_ping(fleet_api, db_session, manager):
    webhook = subscribe(fleet_api, manager, active=False).json
    inactive = fleet_api.post(f"{WEBHOOKS}/{webhook['id']}/test", user=manager)
    assert inactive.status_code == 409
    assert inactive.json["error"]["code"] == "webhook_inactive"
    unknown = fleet_api.post(f"{WEBHOOKS}/{uuid.uuid4()}/test", user=manager)
    assert unknown.status_code == 404
    assert db_session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0


def add_attempts(db_session, webhook_id, count):
    """``count`` logged attempts of one delivery of a ping, a minute apart, oldest first."""
    event = record_event(db_session, "ping", {}, only_webhook_id=webhook_id)
    delivery = db_session.scalars(
        sa.select(WebhookDelivery).where(WebhookDelivery.event_id == event.id)
    ).one()
    start = datetime.now(UTC) - timedelta(hours=1)
    for number in range(1, count + 1):
        db_session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                webhook_id=webhook_id,
                event_id=event.id,
                event_type="ping",
                attempt=number,
                outcome="delivered" if number == count else "failed",
                response_code=204 if number == count else 503,
                duration_ms=10 * number,
                error=None if number == count else "answered 503",
                attempted_at=start + timedelta(minutes=number),
                next_retry_at=None
                if number == count
                else start + timedelta(minutes=number, seconds=30),
            )
        )
    db_session.commit()
    return delivery


def test_the_delivery_log_pages_a_webhooks_attempts_latest_first(fleet_api, db_session, manager):
    webhook = subscribe(fleet_api, manager).json
    other = subscribe(fleet_api, manager).json
    delivery = add_attempts(db_session, uuid.UUID(webhook["id"]), 3)
    add_attempts(db_session, uuid.UUID(other["id"]), 2)
    path = f"{WEBHOOKS}/{webhook['id']}/deliveries"

    first = fleet_api.get(path, user=manager, query_string={"limit": 2})
    assert first.status_code == 200, first.json
    assert [a["attempt"] for a in first.json["items"]] == [3, 2]
    latest = first.json["items"][0]
    assert latest["delivery_id"] == str(delivery.id)
    assert (latest["outcome"], latest["response_code"], latest["duration_ms"]) == (
        "delivered",
        204,
        30,
    )
    assert latest["next_retry_at"] is None
    failed = first.json["items"][1]
    assert (failed["outcome"], failed["response_code"], failed["error"]) == (
        "failed",
        503,
        "answered 503",
    )
    assert datetime.fromisoformat(failed["next_retry_at"]) > datetime.fromisoformat(
        failed["attempted_at"]
    )
    cursor = first.json["next_cursor"]
    assert cursor
    rest = fleet_api.get(path, user=manager, query_string={"limit": 2, "cursor": cursor}).json
    assert [a["attempt"] for a in rest["items"]] == [1]
    assert rest["next_cursor"] is None

    unknown = fleet_api.get(f"{WEBHOOKS}/{uuid.uuid4()}/deliveries", user=manager)
    assert unknown.status_code == 404


def subscriptions(db_session):
    """A webhook for each case of the trip.checked_out event: (subscribed and active,
    subscribed and inactive, active and not subscribed)."""
    webhooks = [
        Webhook(url=PUBLIC_URL, events=events, secret=SECRET, active=active)
        for events, active in [
            (["alert.raised", "trip.checked_out"], True),
            (["trip.checked_out"], False),
            (["trip.checked_in"], True),
        ]
    ]
    for webhook in webhooks:
        webhook.author_user_id = uuid.uuid4()
    db_session.add_all(webhooks)
    db_session.commit()
    return webhooks


def test_an_event_of_a_rolled_back_change_leaves_no_delivery_and_no_job(db_session):
    subscriptions(db_session)
    event = record_event(db_session, "trip.checked_out", {"trip_id": "t"})
    deliveries = db_session.scalars(
        sa.select(WebhookDelivery.id).where(WebhookDelivery.event_id == event.id)
    ).all()
    assert len(deliveries) == 1
    assert len(jobs_of(db_session, deliveries)) == 1
    db_session.rollback()

    assert db_session.get(Event, event.id) is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0
    assert jobs_of(db_session, deliveries) == []


def test_a_committed_event_has_one_job_per_subscribed_active_webhook(db_session):
    subscribed, _inactive, _unsubscribed = subscriptions(db_session)
    also = Webhook(
        url=PUBLIC_URL, events=["trip.checked_out"], secret=SECRET, author_user_id=uuid.uuid4()
    )
    db_session.add(also)
    db_session.commit()

    event = record_event(db_session, "trip.checked_out", {"trip_id": "t"})
    db_session.commit()
    deliveries = db_session.scalars(
        sa.select(WebhookDelivery).where(WebhookDelivery.event_id == event.id)
    ).all()
    assert sorted(d.webhook_id for d in deliveries) == sorted([subscribed.id, also.id])
    assert {(d.status, d.attempts) for d in deliveries} == {("pending", 0)}
    assert jobs_of(db_session, [d.id for d in deliveries]) == sorted(
        (str(d.id), "todo") for d in deliveries
    )


def test_a_check_out_queues_its_event_for_the_subscribed_webhooks(
    fleet_api, db_session, manager, driver, vehicle
):
    subscribed, _inactive, _unsubscribed = subscriptions(db_session)
    body = {
        "vehicle_id": str(vehicle.id),
        "odometer_km": 10_000,
        "driver_id": str(driver.id),
        **TRIP,
    }
    trip = fleet_api.post("/api/v1/fleet/trips", user=manager, json=body)
    assert trip.status_code == 201
    # Refused (the vehicle is out): no event.
    again = fleet_api.post("/api/v1/fleet/trips", user=manager, json=body | {"odometer_km": 10_050})
    assert again.status_code == 409

    event = db_session.scalars(sa.select(Event)).one()
    assert event.type == "trip.checked_out"
    assert event.data["id"] == trip.json["id"]
    assert event.data["start_km"] == 10_000
    delivery = db_session.scalars(sa.select(WebhookDelivery)).one()
    assert (delivery.webhook_id, delivery.event_id) == (subscribed.id, event.id)
    assert jobs_of(db_session, [delivery.id]) == [(str(delivery.id), "todo")]


def test_a_hanging_receiver_does_not_slow_a_check_out(
    private_fleet_api, db_session, manager, driver, vehicle
):
    with receiving() as receiver:
        receiver.hang()
        webhook = subscribe(private_fleet_api, manager, url=receiver.url).json
        body = {
            "vehicle_id": str(vehicle.id),
            "odometer_km": 10_000,
            "driver_id": str(driver.id),
            **TRIP,
        }
        started = time.monotonic()
        response = private_fleet_api.post("/api/v1/fleet/trips", user=manager, json=body)
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.json
        # The receiver would hold a POST for HOLD_AT_MOST_SECONDS; the API only wrote rows.
        assert elapsed < 1.0
        delivery = db_session.scalars(
            sa.select(WebhookDelivery).where(WebhookDelivery.webhook_id == uuid.UUID(webhook["id"]))
        ).one()
        assert delivery.status == "pending"
        assert jobs_of(db_session, [delivery.id]) == [(str(delivery.id), "todo")]
        assert receiver.received == []
