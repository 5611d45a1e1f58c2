"""PostgreSQL stops for 10 s under load: JSON 503s while it is down, recovery without
restarting anything, and every write that got a 2xx is in the database. And with it
stopped, every route of the merged OpenAPI document, walked through the gateway as a
signed-in admin, answers 503 database_unavailable with Retry-After."""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest
import requests
from PIL import Image

from tests.e2e.conftest import RunningStack, running_stack
from tests.e2e.helpers import ADMIN_NEW_PASSWORD, admin_token, db_user_id, login, token_for

OUTAGE_SECONDS = 10
WRITERS = 4


@pytest.fixture(scope="module")
def stack_on_private_postgres(private_postgres, tmp_path_factory) -> Iterator[RunningStack]:
    with running_stack(
        private_postgres.admin_url,
        tmp_path_factory.mktemp("outage-var"),
        gateway_workers=2,
        RATE_LIMIT_DEFAULT="1000000/minute",
    ) as stack:
        yield stack


def plate(n: int, writer: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return f"{letters[writer]}{letters[n // 1000 % 26]}{letters[n // 100 % 10]}{n % 10000:04d}"


def test_writes_during_a_database_outage(private_postgres, stack_on_private_postgres):
    stack = stack_on_private_postgres
    token = token_for(stack, db_user_id(stack))
    headers = {"Authorization": f"Bearer {token}"}
    stop = threading.Event()
    outcomes: list[tuple[str, int, dict]] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            vehicle_plate = plate(n, writer)
            body = {
                "plate": vehicle_plate,
                "make": "Fiat",
                "model": "Drill",
                "year": 2022,
                "fuel_types": ["diesel"],
            }
            try:
                response = session.post(
                    f"{stack.url}/api/v1/fleet/vehicles", json=body, headers=headers, timeout=15
                )
                outcome = (vehicle_plate, response.status_code, response.json())
            except requests.RequestException as exc:
                outcome = (vehicle_plate, 0, {"transport_error": str(exc)})
            with lock:
                outcomes.append(outcome)
            n += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        private_postgres.stop()
        outage_started = len(outcomes)
        time.sleep(OUTAGE_SECONDS)
        private_postgres.start()
        outage_ended = len(outcomes)
        # Recovery without restarting any service: successes again within seconds.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                recent = [status for _, status, _ in outcomes[outage_ended:]]
            if recent.count(201) >= 10:
                break
            time.sleep(0.25)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    during = [(status, body) for _, status, body in outcomes[outage_started:outage_ended]]
    assert during, "no request was made while the database was down"
    assert {status for status, _ in during} <= {201, 503}, during[:5]
    assert any(status == 503 for status, _ in during)
    assert all(
        body["error"]["code"] == "database_unavailable" for status, body in during if status == 503
    )
    after = [status for _, status, _ in outcomes[outage_ended:]]
    assert after.count(201) >= 10, after[-20:]
    assert 0 not in {status for _, status, _ in outcomes}, "a request hung or broke off"
    # The bodies carry request ids: the services' log lines say what happened.
    assert 500 not in {status for _, status, _ in outcomes}, [
        body for _, status, body in outcomes if status >= 500 and status != 503
    ][:3]

    acknowledged = {plate for plate, status, _ in outcomes if status == 201}
    conn = psycopg2.connect(stack.settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT plate FROM fleet.vehicles WHERE model = 'Drill'")
            stored = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert acknowledged <= stored, sorted(acknowledged - stored)[:5]


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def drill_requests(any_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """A request each route would accept (for all it can tell without its database).

    Routes not named here are sent without a body (GET, DELETE) or with ``{}``.
    """
    now = datetime.now(UTC).isoformat()
    return {
        ("POST", "/api/v1/auth/login"): {"json": {"username": "admin", "password": "x" * 16}},
        ("POST", "/api/v1/auth/users"): {
            "json": {"username": "drilluser", "full_name": "Drill User", "role": "driver"}
        },
        ("PATCH", "/api/v1/auth/users/{user_id}"): {"json": {"full_name": "Drill User"}},
        # A public address, by number: vetted without a resolver.
        ("POST", "/api/v1/fleet/webhooks"): {
            "json": {
                "url": "https://93.184.215.14/hooks",
                "events": ["trip.checked_out"],
                "secret": "drill-secret-0123456789",
            }
        },
        ("PUT", "/api/v1/fleet/notification-settings"): {
            "json": {"email_digest": "daily", "language": "pt-BR", "email": "frota@example.com"}
        },
        ("POST", "/api/v1/auth/me/password"): {
            "json": {"current_password": ADMIN_NEW_PASSWORD, "new_password": "drill-" * 4}
        },
        ("POST", "/api/v1/fleet/vehicles"): {
            "json": {
                "plate": "DRL1D23",
                "make": "Fiat",
                "model": "Drill",
                "year": 2022,
                "fuel_types": ["diesel"],
            }
        },
        ("PATCH", "/api/v1/fleet/vehicles/{vehicle_id}"): {"json": {"model": "Drill 2"}},
        ("POST", "/api/v1/fleet/vehicles/{vehicle_id}/odometer"): {"json": {"km": 100}},
        ("POST", "/api/v1/fleet/odometer-readings/{reading_id}/void"): {
            "json": {"reason": "drill"}
        },
        ("POST", "/api/v1/fleet/drivers"): {
            "json": {
                "user_id": any_id,
                "license_number": "12345678901",
                "license_category": "B",
                "license_expires_on": "2031-01-31",
            }
        },
        ("PATCH", "/api/v1/fleet/drivers/{driver_id}"): {"json": {"full_name": "Drill Driver"}},
        ("POST", "/api/v1/fleet/assignments"): {
            "json": {"vehicle_id": any_id, "driver_id": any_id, "starts_at": now}
        },
        ("POST", "/api/v1/fleet/trips"): {
            "json": {
                "vehicle_id": any_id,
                "driver_id": any_id,
                "odometer_km": 100,
                "purpose": "drill",
            }
        },
        ("POST", "/api/v1/fleet/trips/{trip_id}/check-in"): {"json": {"odometer_km": 120}},
        ("POST", "/api/v1/fleet/fuel-logs"): {
            # Citing a receipt: the media service is asked first.
            "json": {
                "vehicle_id": any_id,
                "odometer_km": 100,
                "fuel_type": "diesel",
                "liters": "10",
                "total_cost": "50",
                "full_tank": True,
                "receipt_media_id": any_id,
            }
        },
        ("POST", "/api/v1/fleet/maintenance/schedules"): {
            "json": {"vehicle_id": any_id, "name": "Oil change", "every_km": 10_000}
        },
        ("POST", "/api/v1/fleet/maintenance/records"): {
            "json": {"vehicle_id": any_id, "odometer_km": 100, "cost": "80.00"}
        },
        ("POST", "/api/v1/fleet/inspections"): {
            "json": {
                "vehicle_id": any_id,
                "items": [{"item": "tyres", "ok": True, "media_ids": [any_id]}],
            }
        },
        ("POST", "/api/v1/fleet/inspections/{inspection_id}/resolve"): {"json": {"note": "drill"}},
        ("POST", "/api/v1/fleet/documents"): {
            "json": {
                "vehicle_id": any_id,
                "type": "insurance",
                "number": "AP-1",
                "media_id": any_id,
            }
        },
        ("GET", "/api/v1/fleet/reports/fleet"): {
            "params": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
        },
        ("GET", "/api/v1/fleet/reports/vehicles/{vehicle_id}"): {
            "params": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
        },
        ("POST", "/api/v1/media/files"): {
            "files": {"file": ("photo.jpg", jpeg(), "image/jpeg")},
            "data": {"kind": "photo"},
        },
    }


DRIVER_WRITES = {
    ("POST", "/api/v1/fleet/fuel-logs"): {
        "vehicle_id": str(uuid.uuid4()),
        "odometer_km": 100,
        "fuel_type": "diesel",
        "liters": "10",
        "total_cost": "50",
        "full_tank": True,
    },
    ("POST", "/api/v1/fleet/vehicles/{vehicle_id}/odometer"): {"km": 100},
    ("POST", "/api/v1/fleet/trips"): {
        "vehicle_id": str(uuid.uuid4()),
        "odometer_km": 100,
        "purpose": "drill",
    },
    ("POST", "/api/v1/fleet/trips/{trip_id}/check-in"): {"odometer_km": 120},
    ("POST", "/api/v1/fleet/inspections"): {
        "vehicle_id": str(uuid.uuid4()),
        "items": [{"item": "tyres", "ok": True}],
    },
}


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def problem(response: requests.Response, code: str = "database_unavailable") -> str | None:
    """What is wrong with ``response`` as the answer of a route whose database is down."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} {response.headers.get('Content-Type')} {response.text[:80]}"
    if response.status_code != 503 or error["code"] != code:
        return f"{response.status_code} {error['code']}"
    if not response.headers.get("Retry-After", "").isdigit():
        return "503 without Retry-After"
    if not error["request_id"]:
        return "503 without request_id"
    return None


def wait_until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_every_route_answers_503_database_unavailable_while_postgres_is_stopped(
    private_postgres, stack_on_private_postgres
):
    stack = stack_on_private_postgres
    http = requests.Session()
    admin_token(http, stack)
    tokens = login(http, stack, "admin", ADMIN_NEW_PASSWORD).json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    # Signed in and served once: the gateway's revocation state is in Redis, as it is
    # in any running stack (what happens when it is not is checked below).
    assert http.get(f"{stack.url}/api/v1/auth/me", headers=access, timeout=10).status_code == 200
    walked: dict[tuple[str, str], str | None] = {}

    started = time.monotonic()
    private_postgres.stop()
    try:
        # What needs no database answers as always: liveness, the documents, health (which
        # says what is down).
        assert http.get(f"{stack.url}/livez", timeout=10).status_code == 200
        docs = http.get(f"{stack.url}/api/docs", timeout=10)
        assert docs.status_code == 200
        merged = http.get(f"{stack.url}/api/v1/openapi.json", timeout=10)
        assert merged.status_code == 200
        health = http.get(f"{stack.url}/health", timeout=10)
        assert health.status_code == 503
        assert {name for name, s in health.json()["services"].items() if s["status"] == "down"} == {
            "auth",
            "fleet",
            "media",
        }

        any_id = str(uuid.uuid4())
        requests_by_route = drill_requests(any_id)
        for method, path in operations(merged.json()):
            kwargs = requests_by_route.get((method, path), {})
            if not kwargs and method in {"POST", "PATCH", "PUT"}:
                kwargs = {"json": {}}
            url = stack.url + re.sub(r"\{[a-z_]+\}", any_id, path)
            headers = refresh if path == "/api/v1/auth/refresh" else access
            response = http.request(method, url, headers=headers, timeout=15, **kwargs)
            walked[(method, path)] = problem(response)

        # A driver's own writes ask the auth service whether they are still active
        # before anything else: its 503 is what the driver hears.
        driver = {"Authorization": f"Bearer {token_for(stack, any_id, role='driver')}"}
        for (method, path), body in DRIVER_WRITES.items():
            url = stack.url + re.sub(r"\{[a-z_]+\}", any_id, path)
            response = http.request(method, url, headers=driver, json=body, timeout=15)
            walked[(method, f"{path} (as a driver)")] = problem(response)

        # The gateway checks revocation in Redis; when Redis has lost that state it asks
        # the auth service, whose answer needs the database. The gateway cannot tell
        # a revoked token from a good one then: 503 (never a guess), with Retry-After.
        stack.redis.flushall()
        time.sleep(1.1)  # past the workers' reuse of a recent "not revoked" answer
        after_flush = http.get(f"{stack.url}/api/v1/fleet/vehicles", headers=access, timeout=15)
        walked[("GET", "/api/v1/fleet/vehicles (Redis flushed)")] = problem(
            after_flush, "revocation_unavailable"
        )
    finally:
        private_postgres.start()
    outage_seconds = time.monotonic() - started

    # Every route of every service was walked, and none answered anything else.
    assert len(walked) >= 50
    assert {path.split("/")[3] for _, path in walked} == {"auth", "fleet", "media"}
    wrong = {f"{method} {path}": answer for (method, path), answer in walked.items() if answer}
    assert not wrong, wrong
    assert outage_seconds < 45
    # And back without restarting anything.
    assert wait_until(
        lambda: (
            http.get(f"{stack.url}/api/v1/auth/me", headers=access, timeout=10).status_code == 200
        ),
        20,
    )
