"""People and reports through the real stack: an admin registers a driver (account and
record, the one-time password shown once), a manager registers one from the driver
accounts the API lets them read, the fleet report's CSV streamed with the user's token,
and a refusal of the API in plain words."""

from __future__ import annotations

import csv
import io
import re
import uuid

import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.console.conftest import console_of
from tests.e2e.helpers import admin_token, bearer, login

SECRET = re.compile(r'<p class="secret">([^<]+)</p>')


def _license() -> str:
    return uuid.uuid4().hex[:11].upper()


def test_an_admin_registers_a_driver_and_sees_the_one_time_password_once(
    e2e_stack: RunningStack,
):
    console, admin = console_of(e2e_stack, "admin")
    username = f"drv-{uuid.uuid4().hex[:8]}"
    registered = console.submit(
        "/drivers/register",
        {
            "username": username,
            "full_name": "Maria Console",
            "email": "",
            "license_number": _license(),
            "license_category": "B",
            "license_expires_on": "2030-06-30",
        },
    )
    assert registered.status_code == 302, registered.text
    driver_page = registered.headers["Location"]
    shown = console.get(driver_page)
    assert shown.status_code == 200
    assert "Maria Console" in shown.text
    (password,) = SECRET.findall(shown.text)
    # The password shown is the account's: it signs in (and must be changed).
    signed_in = login(requests.Session(), e2e_stack, username, password)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["must_change_password"] is True
    # Once only: a reload shows the driver, not the password.
    again = console.get(driver_page)
    assert again.status_code == 200
    assert "Maria Console" in again.text
    assert password not in again.text
    assert not SECRET.search(again.text)
    # Account and record, linked.
    token = admin["access_token"]
    users = requests.get(
        f"{e2e_stack.url}/api/v1/auth/users",
        headers=bearer(token),
        params={"q": username},
        timeout=10,
    ).json()["items"]
    (account,) = users
    drivers = requests.get(
        f"{e2e_stack.url}/api/v1/fleet/drivers",
        headers=bearer(token),
        params={"user_id": account["id"]},
        timeout=10,
    ).json()["items"]
    assert [d["full_name"] for d in drivers] == ["Maria Console"]


def test_a_manager_registers_a_driver_account_and_downloads_the_fleet_report_csv(
    e2e_stack: RunningStack,
):
    console, _ = console_of(e2e_stack, "manager")
    # An account an admin created: the manager finds it in the form's choices.
    http = requests.Session()
    account = http.post(
        f"{e2e_stack.url}/api/v1/auth/users",
        headers=bearer(admin_token(http, e2e_stack)),
        json={
            "username": f"acc-{uuid.uuid4().hex[:8]}",
            "full_name": "Rui Escolha",
            "role": "driver",
        },
        timeout=10,
    ).json()
    form = console.get("/drivers/new", params={"q": account["username"]})
    assert f'<option value="{account["id"]}">Rui Escolha' in form.text
    registered = console.submit(
        f"/drivers/new?q={account['username']}",
        {
            "user_id": account["id"],
            "full_name": "",
            "license_number": _license(),
            "license_category": "C",
            "license_expires_on": "2030-01-31",
        },
    )
    assert registered.status_code == 302, registered.text
    assert "Rui Escolha" in console.get(registered.headers["Location"]).text

    report = console.get("/reports?from=2026-01-01&to=2026-01-31")
    assert report.status_code == 200
    link = re.search(r'href="(/reports/fleet\.csv\?[^"]+)"', report.text)
    assert link, report.text
    download = console.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert "fleet-report.csv" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0][:3] == ["vehicle_id", "plate", "km_driven"]
    assert rows[-1][1] == "TOTAL"


def test_an_admin_changing_their_own_role_is_refused_in_plain_words(e2e_stack: RunningStack):
    console, admin = console_of(e2e_stack, "admin")
    refused = console.submit(
        f"/users/{admin['id']}",
        {"full_name": admin["full_name"], "email": "", "role": "manager"},
    )
    assert refused.status_code == 403
    assert "You cannot change your own role or status." in refused.text
    me = requests.get(
        f"{e2e_stack.url}/api/v1/auth/me", headers=bearer(admin["access_token"]), timeout=10
    )
    assert me.json()["role"] == "admin"
