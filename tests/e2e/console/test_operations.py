"""The manager's operations pages through the real stack: an assignment made in the
console (its refusals in plain words and beside the field), a failed inspection
resolved, the trips' CSV downloaded with the user's token."""

from __future__ import annotations

import csv
import io
import random
import string
import uuid

import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.console.conftest import console_of
from tests.e2e.helpers import admin_token, bearer
from tests.support.files import jpeg_bytes


def _plate() -> str:
    letters = "".join(random.choices(string.ascii_uppercase, k=3))
    return letters + "".join(random.choices(string.digits, k=4))


def _api(stack: RunningStack, token: str, method: str, path: str, **options) -> dict:
    response = requests.request(
        method, f"{stack.url}/api/v1{path}", headers=bearer(token), timeout=10, **options
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def _vehicle(stack: RunningStack, token: str) -> dict:
    body = {"plate": _plate(), "make": "Fiat", "model": "Strada", "year": 2022}
    return _api(stack, token, "POST", "/fleet/vehicles", json={**body, "fuel_types": ["diesel"]})


def _driver(stack: RunningStack, token: str) -> dict:
    """A driver record for a new driver user (who never needs to sign in here)."""
    username = f"driver-{uuid.uuid4().hex[:8]}"
    user = _api(
        stack,
        admin_token(requests.Session(), stack),
        "POST",
        "/auth/users",
        json={"username": username, "full_name": username.title(), "role": "driver"},
    )
    return _api(
        stack,
        token,
        "POST",
        "/fleet/drivers",
        json={
            "user_id": user["id"],
            "license_number": "".join(random.choices(string.digits, k=11)),
            "license_category": "B",
            "license_expires_on": "2031-06-30",
        },
    )


def test_assignment_made_in_the_console_its_overlap_and_a_bad_end(e2e_stack):
    console, manager = console_of(e2e_stack, "manager")
    token = manager["access_token"]
    vehicle = _vehicle(e2e_stack, token)
    driver = _driver(e2e_stack, token)
    chosen = {"vehicle_id": vehicle["id"], "driver_id": driver["id"]}

    created = console.submit("/assignments/new", {**chosen, "starts_at": "2026-01-05T08:00"})
    assert created.status_code == 302, created.text
    # Typed on São Paulo's clock (UTC-3), stored as the instant it means.
    stored = _api(e2e_stack, token, "GET", "/fleet/assignments", params=chosen)["items"]
    assert [a["starts_at"] for a in stored] == ["2026-01-05T11:00:00Z"]
    listed = console.get(f"/assignments?vehicle_id={vehicle['id']}")
    assert vehicle["plate"] in listed.text
    assert driver["full_name"] in listed.text

    overlapping = console.submit("/assignments/new", {**chosen, "starts_at": "2026-02-01T08:00"})
    assert overlapping.status_code == 409
    assert "This vehicle or driver is already assigned in that period." in overlapping.text

    backwards = console.submit(
        "/assignments/new",
        {**chosen, "starts_at": "2027-03-01T08:00", "ends_at": "2027-03-01T07:00"},
    )
    assert backwards.status_code == 422
    assert '<p class="error" id="ends_at-error">must be after starts_at</p>' in backwards.text

    ended = console.submit(f"/assignments/{stored[0]['id']}/end", {}, form_page="/assignments/new")
    assert ended.status_code == 302
    assert "Assignment ended." in console.get("/assignments").text


def test_failed_inspection_reviewed_and_resolved_in_the_console(e2e_stack):
    console, manager = console_of(e2e_stack, "manager")
    token = manager["access_token"]
    vehicle = _vehicle(e2e_stack, token)
    photo = _api(
        e2e_stack,
        token,
        "POST",
        "/media/files",
        files={"file": ("brakes.jpg", jpeg_bytes(20_000), "image/jpeg")},
        data={"kind": "photo"},
    )
    items = [
        {"item": "Tyres", "ok": True},
        {"item": "Brakes", "ok": False, "severity": "high", "note": "Worn pads"},
    ]
    items[1]["media_ids"] = [photo["id"]]
    inspection = _api(
        e2e_stack,
        token,
        "POST",
        "/fleet/inspections",
        json={"vehicle_id": vehicle["id"], "items": items},
    )
    path = f"/inspections/{inspection['id']}"

    unresolved = console.get("/inspections?unresolved=true")
    assert path in unresolved.text
    shown = console.get(path)
    assert "Worn pads" in shown.text
    assert "severity: high" in shown.text
    assert f'src="/media/{photo["id"]}/thumbnail"' in shown.text
    assert f'href="/media/{photo["id"]}"' in shown.text

    resolved = console.submit(path, {"note": "Pads replaced"})
    assert resolved.status_code == 302
    assert "Pads replaced" in console.get(path).text
    assert _api(e2e_stack, token, "GET", f"/fleet/inspections/{inspection['id']}")["resolved_at"]

    again = console.submit(path, {"note": "Twice"}, form_page="/assignments/new")
    assert again.status_code == 409
    assert "This inspection is already resolved." in again.text


def test_trips_csv_downloaded_through_the_console(e2e_stack):
    console, manager = console_of(e2e_stack, "manager")
    token = manager["access_token"]
    vehicle = _vehicle(e2e_stack, token)
    driver = _driver(e2e_stack, token)
    trip = _api(
        e2e_stack,
        token,
        "POST",
        "/fleet/trips",
        json={
            "vehicle_id": vehicle["id"],
            "driver_id": driver["id"],
            "odometer_km": 1200,
            "purpose": "Delivery, downtown",
        },
    )

    listed = console.get(f"/trips?vehicle_id={vehicle['id']}&open=true")
    assert "Delivery, downtown" in listed.text
    assert f'href="/trips/export.csv?vehicle_id={vehicle["id"]}&amp;open=true"' in listed.text
    download = console.get(f"/trips/export.csv?vehicle_id={vehicle['id']}&open=true")
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["id"], r["purpose"], r["start_km"]) for r in rows] == [
        (trip["id"], "Delivery, downtown", "1200")
    ]
