"""The manager's dashboard through the real stack: a failed critical inspection listed with a
link to its page, and this month's km and fuel cost as the monthly report gives them; a
driver who opens the console's home is sent to their day."""

from __future__ import annotations

import random
import string
from decimal import Decimal

import requests
from babel.numbers import format_currency, format_decimal

from tests.e2e.conftest import RunningStack
from tests.e2e.console.conftest import console_of
from tests.e2e.helpers import bearer


def _api(stack: RunningStack, token: str, method: str, path: str, **options) -> dict:
    response = requests.request(
        method, f"{stack.url}/api/v1{path}", headers=bearer(token), timeout=10, **options
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_the_dashboard_lists_the_failed_inspection_and_this_months_figures(
    e2e_stack: RunningStack,
):
    console, manager = console_of(e2e_stack, "manager")
    token = manager["access_token"]
    plate = "".join(random.choices(string.ascii_uppercase, k=3)) + str(random.randint(1000, 9999))
    vehicle = _api(
        e2e_stack,
        token,
        "POST",
        "/fleet/vehicles",
        json={
            "plate": plate,
            "make": "Fiat",
            "model": "Strada",
            "year": 2022,
            "fuel_types": ["gasoline"],
        },
    )
    # Two full tanks now (this month): 400 km driven, 70.00 of fuel.
    for km, cost in ((50_000, "40.00"), (50_400, "30.00")):
        _api(
            e2e_stack,
            token,
            "POST",
            "/fleet/fuel-logs",
            json={
                "vehicle_id": vehicle["id"],
                "odometer_km": km,
                "fuel_type": "gasoline",
                "liters": "6",
                "total_cost": cost,
                "full_tank": True,
            },
        )
    inspection = _api(
        e2e_stack,
        token,
        "POST",
        "/fleet/inspections",
        json={
            "vehicle_id": vehicle["id"],
            "items": [{"item": "Brakes", "ok": False, "severity": "critical"}],
        },
    )
    # The fleet's figures (other tests' vehicles included), as the page must show them.
    month = _api(e2e_stack, token, "GET", "/fleet/reports/fleet/monthly")["months"][-1]
    assert month["km_driven"] >= 400
    assert Decimal(month["fuel_cost"]) >= 70

    page = console.get("/")
    assert page.status_code == 200, page.text
    link = f'<a href="/inspections/{inspection["id"]}">{plate}: inspection of'
    assert link in page.text
    assert 'class="badge badge-critical">critical<' in page.text
    km_text = format_decimal(month["km_driven"], format="#,##0", locale="en")
    fuel_cost = format_currency(Decimal(month["fuel_cost"]), "BRL", locale="en")
    assert f'<dd class="figure">{km_text}</dd>' in page.text
    assert f'<dd class="figure">{fuel_cost}</dd>' in page.text
    assert page.text.count('<svg class="chart"') >= 3

    driver_console, _ = console_of(e2e_stack, "driver")
    home = driver_console.get("/", allow_redirects=False)
    assert home.status_code == 302
    assert home.headers["Location"] == "/driver"
