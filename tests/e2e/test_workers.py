"""The job workers of the stack: live, registered with their queues, and running jobs
deferred through the API (a webhook's ping, from the request to the receiver)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import WORKER_PARTS
from tests.e2e.helpers import admin_token, bearer, metric_total
from tests.support.receivers import receiving

SECRET = "e2e-webhook-secret-0123456789"


@pytest.mark.parametrize("part", WORKER_PARTS)
def test_each_worker_is_live_and_serves_its_queue_metrics(e2e_stack, http, part):
    service = part.removesuffix("-worker")

    assert http.get(f"{e2e_stack.service_url(part)}/livez").json() == {"status": "ok"}
    metrics = http.get(f"{e2e_stack.service_url(part)}/metrics").text
    assert f'frota_job_queue_depth{{service="{service}",state="due"}}' in metrics
    assert "frota_job_queue_oldest_due_seconds" in metrics
    engine = sa.create_engine(e2e_stack.settings.database_url or "")
    try:
        with engine.connect() as conn:
            workers = conn.scalar(
                sa.select(sa.func.count()).select_from(
                    sa.table("procrastinate_workers", schema=service)
                )
            )
    finally:
        engine.dispose()
    assert workers == 1


def test_a_webhook_ping_goes_from_the_api_through_the_fleet_worker_to_the_receiver(e2e_stack, http):
    auth = bearer(admin_token(http, e2e_stack))
    hooks = f"{e2e_stack.url}/api/v1/fleet/webhooks"
    with receiving() as receiver:
        created = http.post(
            hooks,
            headers=auth,
            json={"url": receiver.url, "events": ["trip.checked_out"], "secret": SECRET},
        )
        assert created.status_code == 201, created.text
        webhook = created.json()["id"]
        try:
            ping = http.post(f"{hooks}/{webhook}/test", headers=auth)
            assert ping.status_code == 202, ping.text

            try:
                arrived = receiver.wait_for(1, timeout=20)[0]
            except AssertionError as nothing:
                # What the worker made of it: the attempts, else the job still queued.
                log = http.get(f"{hooks}/{webhook}/deliveries", headers=auth).text
                raise AssertionError(f"{nothing}; the delivery log: {log}") from None
        finally:
            http.delete(f"{hooks}/{webhook}", headers=auth)

    assert json.loads(arrived.body)["type"] == "ping"
    signature = hmac.new(SECRET.encode(), arrived.body, hashlib.sha256).hexdigest()
    assert arrived.headers["X-Frota-Signature"] == f"sha256={signature}"
    # Counted once the receiver's answer is in, a moment after the body arrived.
    deadline = time.monotonic() + 10
    while delivered(http, e2e_stack) < 1:
        assert time.monotonic() < deadline, "the delivery was not counted"
        time.sleep(0.1)


def delivered(http, e2e_stack) -> float:
    metrics = http.get(f"{e2e_stack.service_url('fleet-worker')}/metrics").text
    return metric_total(metrics, "frota_webhook_deliveries_total", outcome="delivered")
