"""A manager's day and a driver's day in a real browser, through the real stack, in pt-BR and
in English: every page they open passes axe-core (no serious or critical violation) and
breaks no rule of the console's CSP.

The manager signs in for the first time (the one-time password leads to the password page),
registers a vehicle and a driver, assigns them; the driver, on a 360 px phone, checks out,
logs fuel with a photo of the receipt and fails a critical inspection item; the manager sees
the alert on the dashboard, resolves the inspection and downloads the CSV report.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright

from tests.e2e.conftest import RunningStack
from tests.e2e.console.browser import CHROMIUM, DESKTOP, PHONE, Findings, user_agent
from tests.e2e.helpers import ADMIN_NEW_PASSWORD, admin_token, bearer
from tests.support.files import jpeg_bytes

# What each language says at the moments the days check (the rest is checked by ids).
WORDS = {
    "pt-BR": {
        "sign_in": "Entrar",
        "password_page": "Altere sua senha",
        "workshop": "oficina",
        "resolved": "resolvid",
    },
    "en": {
        "sign_in": "Sign in",
        "password_page": "Change your password",
        "workshop": "workshop",
        "resolved": "resolved",
    },
}
CRITICAL_ITEM = 2  # Brakes, in the driver's checklist


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


def account(stack: RunningStack, role: str) -> dict[str, str]:
    """A user created by the admin: a username and the one-time password to change."""
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    created = requests.post(
        f"{stack.url}/api/v1/auth/users",
        headers=bearer(admin_token(requests.Session(), stack)),
        json={"username": username, "full_name": f"{role.title()} Silva", "role": role},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return {"id": created.json()["id"], "username": username, **created.json()}


def submit(page: Page, findings: Findings) -> None:
    """Send the page's main form (its last submit button: the header's is sign out)."""
    page.locator("main form button[type=submit]").last.click()
    findings.check(page)


def first_sign_in(page: Page, findings: Findings, user: dict[str, str], words: dict) -> None:
    page.goto("/login")
    findings.check(page)
    expect(page.locator("h1")).to_have_text(words["sign_in"])
    page.fill("#username", user["username"])
    page.fill("#password", user["one_time_password"])
    submit(page, findings)
    expect(page.locator("h1")).to_have_text(words["password_page"])
    page.fill("#current_password", user["one_time_password"])
    page.fill("#new_password", "a-password-of-their-own")
    page.fill("#confirm_password", "a-password-of-their-own")
    submit(page, findings)


def id_in_url(page: Page, prefix: str) -> str:
    found = re.search(rf"{prefix}/([0-9a-f-]{{36}})", page.url)
    assert found, page.url
    return found.group(1)


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_a_managers_day_and_a_drivers_day(
    e2e_stack: RunningStack, browser: Browser, language: str, tmp_path: Path
):
    words = WORDS[language]
    findings = Findings()
    manager, driver = account(e2e_stack, "manager"), account(e2e_stack, "driver")
    # A Mercosul plate of its own per run: ABC1D23.
    serial = uuid.uuid4().int
    plate = f"{'PTB' if language == 'pt-BR' else 'ENG'}{serial % 10}C{serial // 10 % 90 + 10}"

    with user_agent(browser, e2e_stack.url, language, findings, DESKTOP) as office:
        first_sign_in(office, findings, manager, words)
        # A mistyped plate is refused beside its field; the corrected one is registered.
        office.goto("/vehicles/new")
        findings.check(office)
        office.fill("#plate", "NOT-A-PLATE")
        office.fill("#make", "Fiat")
        office.fill("#model", "Strada")
        office.fill("#year", "2024")
        office.check("#fuel_types-0")
        office.check("#fuel_types-1")
        office.fill("#tank_capacity_l", "55")
        submit(office, findings)
        expect(office.locator("#plate-error")).to_be_visible()
        office.fill("#plate", plate)
        submit(office, findings)
        vehicle_id = id_in_url(office, "/vehicles")
        expect(office.locator("h1")).to_contain_text(plate)

        office.goto("/drivers/new")
        findings.check(office)
        office.select_option("#user_id", driver["id"])
        office.fill("#license_number", f"{serial % 10**11:011d}")  # unique, as CNHs are
        office.select_option("#license_category", "B")
        office.fill("#license_expires_on", "2031-05-31")
        submit(office, findings)
        driver_id = id_in_url(office, "/drivers")

        office.goto("/assignments/new")
        findings.check(office)
        office.select_option("#vehicle_id", vehicle_id)
        office.select_option("#driver_id", driver_id)
        office.fill("#starts_at", "2026-01-05T08:00")
        submit(office, findings)
        expect(office.locator("main")).to_contain_text(plate)

    with user_agent(browser, e2e_stack.url, language, findings, PHONE) as phone:
        first_sign_in(phone, findings, driver, words)
        expect(phone.locator("main")).to_contain_text(plate)
        phone.click("a[href='/driver/check-out']")
        findings.check(phone)
        phone.fill("#odometer_km", "12000")
        phone.fill("#purpose", "Entregas no centro")
        submit(phone, findings)

        phone.goto("/driver/fuel")
        findings.check(phone)
        phone.select_option("#fuel_type", "ethanol")
        phone.fill("#liters", "40,5")
        phone.fill("#total_cost", "182,25")
        phone.fill("#odometer_km", "12080")
        receipt = FilePayload(name="recibo.jpg", mimeType="image/jpeg", buffer=jpeg_bytes(20_000))
        phone.set_input_files("#receipt", files=[receipt])
        expect(phone.locator("#receipt-preview img")).to_have_count(1)  # app.js's preview
        submit(phone, findings)
        expect(phone.locator(".flash-success")).to_be_visible()

        phone.goto("/driver/inspection")
        findings.check(phone)
        for item in range(9):
            phone.check(f"#checks-{item}-ok-{1 if item == CRITICAL_ITEM else 0}")
        phone.select_option(f"#checks-{CRITICAL_ITEM}-severity", "critical")
        phone.fill(f"#checks-{CRITICAL_ITEM}-note", "Pedal baixo")
        submit(phone, findings)
        expect(phone.locator("main")).to_contain_text(words["workshop"])
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360

    with user_agent(browser, e2e_stack.url, language, findings, DESKTOP) as office:
        office.goto("/login")
        office.fill("#username", manager["username"])
        office.fill("#password", "a-password-of-their-own")
        submit(office, findings)
        alert = office.locator(f"main a[href^='/inspections/']:has-text('{plate}')").first
        expect(alert).to_be_visible()
        alert.click()
        findings.check(office)
        office.fill("#note", "Pastilhas trocadas")
        submit(office, findings)
        expect(office.locator("main")).to_contain_text(words["resolved"])

        office.goto("/reports")
        findings.check(office)
        with office.expect_download() as download:
            office.click("a[href^='/reports/fleet.csv']")
        saved = tmp_path / "report.csv"
        download.value.save_as(saved)
        assert plate in saved.read_text()

    findings.assert_clean()


def visit(page: Page, findings: Findings, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path}: {response.status}"
    findings.check(page)


def test_every_page_the_days_do_not_open_passes_axe_too(e2e_stack: RunningStack, browser: Browser):
    """Lists with rows, forms, a record's pages, as an admin and on a phone as a driver."""
    findings = Findings()
    admin = bearer(admin_token(requests.Session(), e2e_stack))

    def post(path: str, body: dict) -> dict:
        created = requests.post(
            f"{e2e_stack.url}/api/v1{path}", headers=admin, json=body, timeout=10
        )
        assert created.status_code in (200, 201), created.text
        result: dict = created.json()
        return result

    driver = account(e2e_stack, "driver")
    serial = uuid.uuid4().int
    vehicle_id = post(
        "/fleet/vehicles",
        {
            "plate": f"AXE{serial % 10}E{serial // 10 % 90 + 10}",
            "make": "VW",
            "model": "Saveiro",
            "year": 2023,
            "fuel_types": ["gasoline", "ethanol"],
        },
    )["id"]
    driver_id = post(
        "/fleet/drivers",
        {
            "user_id": driver["id"],
            "license_number": f"{serial % 10**11:011d}",
            "license_category": "B",
            "license_expires_on": "2030-01-31",
        },
    )["id"]
    post(
        "/fleet/assignments",
        {"vehicle_id": vehicle_id, "driver_id": driver_id, "starts_at": "2026-01-01T08:00:00Z"},
    )
    inspection_id = post(
        "/fleet/inspections",
        {
            "vehicle_id": vehicle_id,
            "items": [{"item": "Freios", "ok": False, "severity": "high", "note": "Ruído"}],
        },
    )["id"]
    user_id = driver["id"]
    pages = [
        "/vehicles",
        "/vehicles?q=AXE",
        f"/vehicles/{vehicle_id}",
        f"/vehicles/{vehicle_id}/edit",
        "/drivers",
        f"/drivers/{driver_id}",
        f"/drivers/{driver_id}/edit",
        "/drivers/register",
        "/assignments",
        "/trips",
        "/fuel",
        "/fuel/new",
        "/maintenance",
        "/maintenance/schedules/new",
        "/maintenance/records/new",
        "/inspections",
        f"/inspections/{inspection_id}",
        "/documents",
        "/documents/new",
        "/reports/media",
        "/users",
        "/users/new",
        f"/users/{user_id}",
        "/password",
        "/no-such-page",
    ]
    with user_agent(browser, e2e_stack.url, "pt-BR", findings, DESKTOP) as office:
        office.goto("/login")
        office.fill("#username", "admin")
        office.fill("#password", ADMIN_NEW_PASSWORD)
        submit(office, findings)
        for path in pages[:-1]:
            visit(office, findings, path)
        missing = office.goto(pages[-1])
        assert missing is not None
        assert missing.status == 404
        findings.check(office)
    with user_agent(browser, e2e_stack.url, "pt-BR", findings, PHONE) as phone:
        first_sign_in(phone, findings, driver, WORDS["pt-BR"])
        for path in ("/driver/check-out", "/driver/fuel", "/driver/inspection", "/driver/trips"):
            visit(phone, findings, path)
    findings.assert_clean()
