"""The driver's pages over HTTP, as a phone without JavaScript uses them: today's vehicle,
check out and in, fuel with a receipt photo, an inspection; refusals in plain words or
beside their field, and a refused form's photo deleted again."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from PIL import Image

from tests.e2e.conftest import RunningStack
from tests.e2e.console.conftest import Console, console_of
from tests.e2e.helpers import bearer, new_user


class Manager:
    """A manager seeding the fleet through the API."""

    def __init__(self, stack: RunningStack) -> None:
        self.api = f"{stack.url}/api/v1"
        self.http = requests.Session()
        self.http.headers.update(bearer(new_user(self.http, stack, "manager")["access_token"]))

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.api + path, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(self.api + path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def driver_with_vehicle(self, user_id: str, odometer_km: int) -> dict[str, Any]:
        """A vehicle at ``odometer_km``, assigned from now on to a new driver record of
        the user ``user_id``."""
        vehicle = self.post(
            "/fleet/vehicles",
            {
                "plate": f"DRV{random.randrange(10_000):04d}",
                "make": "Fiat",
                "model": "Strada",
                "year": 2022,
                "fuel_types": ["ethanol", "gasoline"],
                "tank_capacity_l": "55",
            },
        )
        self.post(f"/fleet/vehicles/{vehicle['id']}/odometer", {"km": odometer_km})
        driver = self.post(
            "/fleet/drivers",
            {
                "user_id": user_id,
                "license_number": str(random.randrange(10**10, 10**11)),
                "license_category": "B",
                "license_expires_on": "2031-01-01",
            },
        )
        starts_at = datetime.now(UTC) - timedelta(minutes=1)
        self.post(
            "/fleet/assignments",
            {
                "vehicle_id": vehicle["id"],
                "driver_id": driver["id"],
                "starts_at": starts_at.isoformat(),
            },
        )
        return vehicle


def photo(fmt: str = "JPEG") -> bytes:
    """A small real image, as a phone's camera would send one (only much smaller)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, fmt)
    return buffer.getvalue()


def fuel(console: Console, odometer_km: int, **fields: str) -> requests.Response:
    data = {
        "fuel_type": "ethanol",
        "liters": "45,3",
        "total_cost": "1.234,56",
        "odometer_km": str(odometer_km),
        "full_tank": "y",
        "station": "Posto Central",
        **fields,
    }
    receipt = {"receipt": ("receipt.jpg", photo(), "image/jpeg")}
    return console.submit("/driver/fuel", data, files=receipt)


def test_a_drivers_day_on_the_phone(e2e_stack: RunningStack) -> None:
    manager = Manager(e2e_stack)
    console, user = console_of(e2e_stack, "driver")
    # Before a manager registers them, a driver is told so, not shown an error.
    assert "no driver record" in console.get("/driver").text
    vehicle = manager.driver_with_vehicle(user["id"], odometer_km=12_000)

    today = console.get("/driver")
    assert today.status_code == 200
    assert vehicle["plate"] in today.text
    assert "12,000" in today.text
    # The form starts from the vehicle's odometer.
    assert 'value="12000"' in console.get("/driver/check-out").text

    out = console.submit("/driver/check-out", {"odometer_km": "12.010", "purpose": "Deliveries"})
    assert out.status_code == 302, out.text
    again = console.submit("/driver/check-out", {"odometer_km": "12010", "purpose": "Again"})
    assert again.status_code == 409
    assert "already out on a trip" in again.text

    back = console.submit("/driver/check-in", {"odometer_km": "12080"})
    assert back.status_code == 302, back.text

    filled = fuel(console, 12_090)
    assert filled.status_code == 302, filled.text
    (log,) = manager.get("/fleet/fuel-logs", vehicle_id=vehicle["id"])["items"]
    assert (log["liters"], log["total_cost"], log["full_tank"]) == ("45.300", "1234.56", True)
    assert log["receipt_media_id"]
    receipt = manager.get(f"/media/files/{log['receipt_media_id']}")
    assert (receipt["kind"], receipt["content_type"]) == ("receipt", "image/jpeg")

    trips = console.get("/driver/trips")
    assert trips.status_code == 200
    assert "Deliveries" in trips.text
    assert "<dd>70</dd>" in trips.text

    # A failed critical item, with its photo: the vehicle goes to the workshop.
    checks = {f"checks-{i}-ok": "yes" for i in range(9)}
    checks.update({"checks-2-ok": "no", "checks-2-severity": "critical", "checks-2-note": "Soft"})
    photos = [("checks-2-photos", ("brakes.png", photo("PNG"), "image/png"))]
    sent = console.submit("/driver/inspection", checks, files=photos)
    assert sent.status_code == 302, sent.text
    result = console.get(sent.headers["Location"])
    assert "now in the workshop" in result.text
    assert manager.get(f"/fleet/vehicles/{vehicle['id']}")["status"] == "workshop"


def test_a_refused_fuel_log_leaves_no_photo_behind(e2e_stack: RunningStack) -> None:
    manager = Manager(e2e_stack)
    console, user = console_of(e2e_stack, "driver")
    manager.driver_with_vehicle(user["id"], odometer_km=50_000)
    files_before = manager.get("/media/usage")["files"]

    # The odometer going back: a conflict, in plain words.
    backwards = fuel(console, 49_000)
    assert backwards.status_code == 409
    assert "odometer cannot go back" in backwards.text
    assert "The reading before is 50,000 km" in backwards.text
    # More than the tank holds: beside the litres.
    overfilled = fuel(console, 50_100, liters="80")
    assert overfilled.status_code == 422
    assert 'id="liters-error"' in overfilled.text
    # Not an image: beside the photo, and nothing stored.
    junk = console.submit(
        "/driver/fuel",
        {"fuel_type": "ethanol", "liters": "10", "total_cost": "50", "odometer_km": "50100"},
        files={"receipt": ("receipt.jpg", b"not a photo at all", "image/jpeg")},
    )
    assert junk.status_code == 415
    assert 'id="receipt-error"' in junk.text

    assert manager.get("/media/usage")["files"] == files_before
