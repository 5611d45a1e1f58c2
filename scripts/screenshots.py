"""The README's screenshots of the console: the dashboard, a vehicle's page and the
driver's phone view, in pt-BR.

    python -m scripts.screenshots [--database-server URL] [--out docs/images]

Starts the whole stack on a scratch database of the PostgreSQL server, seeds a small
Brazilian fleet through the public API only (as any client app would: the history is
fuel logs and odometer readings dated in the past, the trips are made today), then
signs in through the console's /login form in Debian's Chromium (Playwright never
downloads a browser here) and writes docs/images/dashboard.png, vehicle.png and
driver-phone.png.
"""

from __future__ import annotations

import argparse
import io
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import ALL_PARTS, NO_RATE_LIMITS, RunningStack, running_stack
from tests.e2e.helpers import admin_token

CHROMIUM = "/usr/bin/chromium"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
DAYS_OF_HISTORY = 190
DAYS_BETWEEN_FILLS = 9
# Reais per litre, as priced in 2025.
PRICES = {"ethanol": Decimal("4.29"), "gasoline": Decimal("6.19"), "diesel": Decimal("6.09")}
STATIONS = (
    "Posto Ipiranga Av. Brasil",
    "Shell Rodovia Anhanguera",
    "Petrobras Centro",
    "Posto Ale Marginal Tietê",
)


@dataclass(frozen=True)
class Model:
    plate: str
    make: str
    model: str
    year: int
    fuels: tuple[str, ...]
    tank_l: int
    km_per_l: float
    km_per_day: int
    start_km: int


FLEET = (
    Model("RIO2A19", "Fiat", "Strada", 2023, ("ethanol", "gasoline"), 55, 11.5, 55, 18_400),
    Model("SPA4C21", "Volkswagen", "Saveiro", 2022, ("ethanol", "gasoline"), 55, 11.0, 48, 31_200),
    Model("BRA7E33", "Chevrolet", "S10", 2021, ("diesel",), 76, 9.5, 70, 64_800),
    Model("QWE1F45", "Renault", "Master", 2022, ("diesel",), 100, 8.0, 95, 52_300),
    Model("FRT3B07", "Fiat", "Fiorino", 2023, ("ethanol", "gasoline"), 50, 12.0, 60, 22_900),
    Model("HLX5D62", "Toyota", "Hilux", 2020, ("diesel",), 80, 9.0, 65, 98_100),
    Model("RNG8G14", "Ford", "Ranger", 2022, ("diesel",), 80, 9.2, 58, 47_600),
    Model("TOR6H28", "Fiat", "Toro", 2024, ("diesel",), 60, 10.5, 52, 9_800),
    Model("GOL9J51", "Volkswagen", "Gol", 2019, ("ethanol", "gasoline"), 55, 12.5, 40, 112_400),
    Model("SPR2K36", "Mercedes-Benz", "Sprinter", 2021, ("diesel",), 75, 8.5, 90, 76_500),
    Model("DLY4L80", "Iveco", "Daily", 2020, ("diesel",), 100, 7.5, 85, 134_700),
    Model("MTN7M93", "Chevrolet", "Montana", 2024, ("ethanol", "gasoline"), 50, 12.0, 45, 6_300),
)
# (username, full name, CNH number, category, days until the license expires)
DRIVERS = (
    ("joao.pereira", "João Pereira da Silva", "04512378901", "B", 640),
    ("maria.souza", "Maria Aparecida Souza", "07894561230", "AB", 410),
    ("francisco.oliveira", "Francisco Oliveira", "02365478912", "D", 20),
    ("ana.ferreira", "Ana Paula Ferreira", "09876543210", "B", 900),
    ("antonio.lima", "Antônio Carlos Lima", "03216549870", "E", 330),
    ("juliana.costa", "Juliana Costa", "05678912340", "B", 720),
)
MANAGER = ("carla.mendes", "Carla Mendes")
SHOWN = 0  # the vehicle whose page is shot, driven by the first driver, on a trip now


@dataclass
class Account:
    username: str
    password: str
    token: str
    user_id: str


@dataclass
class Seeded:
    manager: Account
    driver: Account
    vehicle_id: str
    vehicles: list[dict[str, Any]] = field(default_factory=list)


class Client:
    """The public API as one signed-in user."""

    def __init__(self, stack: RunningStack, token: str) -> None:
        self.base = f"{stack.url}/api/v1"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def send(self, method: str, path: str, **options: Any) -> Any:
        response = self.http.request(method, self.base + path, timeout=30, **options)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} refused ({response.status_code}): {response.text}")
        return response.json() if response.content else None

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.send("POST", path, json=body)


def account(
    stack: RunningStack, admin: Client, username: str, full_name: str, role: str
) -> Account:
    """A user created by the admin and signed in past the one-time password."""
    created = admin.post(
        "/auth/users", {"username": username, "full_name": full_name, "role": role}
    )
    login = requests.post(
        f"{stack.url}/api/v1/auth/login",
        json={"username": username, "password": created["one_time_password"]},
        timeout=30,
    ).json()
    password = secrets.token_urlsafe(12)
    changed = Client(stack, login["access_token"]).post(
        "/auth/me/password",
        {"current_password": created["one_time_password"], "new_password": password},
    )
    return Account(username, password, changed["access_token"], created["id"])


def history(api: Client, vehicle: dict[str, Any], model: Model, now: datetime, n: int) -> int:
    """Fills every DAYS_BETWEEN_FILLS days over the last months, each vehicle on days of
    its own (so that some filled up this month already), each fill an odometer reading
    too; the last fill's km."""
    km = model.start_km
    first = (now - timedelta(days=DAYS_OF_HISTORY)).replace(hour=9, minute=30)
    day = n * 4 % DAYS_BETWEEN_FILLS
    fills = 0
    while day < DAYS_OF_HISTORY:
        filled_at = first + timedelta(days=day, hours=(n * 3 + day) % 8)
        # Flex vehicles take three tanks of one fuel, then three of the other.
        fuel = model.fuels[(fills // 3 + n) % len(model.fuels)]
        driven = model.km_per_day * DAYS_BETWEEN_FILLS + (day * 37 + n * 11) % 90
        liters = Decimal(min(model.tank_l * 0.95, driven / model.km_per_l)).quantize(
            Decimal("0.001")
        )
        if fills:
            km += driven
        price = PRICES[fuel] + Decimal((day // 30) * 0.04).quantize(Decimal("0.01"))
        api.post(
            "/fleet/fuel-logs",
            {
                "vehicle_id": vehicle["id"],
                "filled_at": filled_at.isoformat(),
                "odometer_km": km,
                "fuel_type": fuel,
                "liters": str(liters),
                "total_cost": str((liters * price).quantize(Decimal("0.01"))),
                "full_tank": True,
                "station": STATIONS[(fills + n) % len(STATIONS)],
            },
        )
        day += DAYS_BETWEEN_FILLS
        fills += 1
    return km


def brake_photo() -> bytes:
    """A photo for the failed inspection: a worn brake disc, drawn."""
    image = Image.new("RGB", (640, 480), (88, 92, 96))
    draw = ImageDraw.Draw(image)
    draw.ellipse((140, 60, 500, 420), fill=(150, 140, 128), outline=(60, 50, 45), width=12)
    draw.ellipse((260, 180, 380, 300), fill=(70, 70, 74))
    for ring in range(6):
        inset = 30 + ring * 18
        draw.arc((140 + inset, 60 + inset, 500 - inset, 420 - inset), 0, 300, fill=(120, 72, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def seed(stack: RunningStack) -> Seeded:
    admin = Client(stack, admin_token(requests.Session(), stack))
    manager = account(stack, admin, *MANAGER, "manager")
    api = Client(stack, manager.token)
    now = datetime.now(SAO_PAULO).replace(second=0, microsecond=0)
    today = now.date()

    drivers: list[tuple[Account, dict[str, Any]]] = []
    for username, full_name, cnh, category, expires_in in DRIVERS:
        user = account(stack, admin, username, full_name, "driver")
        record = api.post(
            "/fleet/drivers",
            {
                "user_id": user.user_id,
                "license_number": cnh,
                "license_category": category,
                "license_expires_on": (today + timedelta(days=expires_in)).isoformat(),
            },
        )
        drivers.append((user, record))

    vehicles: list[dict[str, Any]] = []
    last_km: list[int] = []
    for n, model in enumerate(FLEET):
        vehicle = api.post(
            "/fleet/vehicles",
            {
                "plate": model.plate,
                "make": model.make,
                "model": model.model,
                "year": model.year,
                "fuel_types": list(model.fuels),
                "tank_capacity_l": str(model.tank_l),
            },
        )
        vehicles.append(vehicle)
        last_km.append(history(api, vehicle, model, now, n))
    api.send("PATCH", f"/fleet/vehicles/{vehicles[9]['id']}", json={"status": "workshop"})

    # Each driver has had a vehicle since the history began.
    assigned_from = (now - timedelta(days=DAYS_OF_HISTORY + 1)).isoformat()
    for (_, record), vehicle in zip(drivers, vehicles, strict=False):
        api.post(
            "/fleet/assignments",
            {"vehicle_id": vehicle["id"], "driver_id": record["id"], "starts_at": assigned_from},
        )

    shown = vehicles[SHOWN]
    # An oil change done some 4 300 km ago: due again soon (every 5 000 km or 6 months).
    schedule = api.post(
        "/fleet/maintenance/schedules",
        {
            "vehicle_id": shown["id"],
            "name": "Troca de óleo e filtro",
            "every_km": 5000,
            "every_days": 180,
        },
    )
    readings = api.send("GET", f"/fleet/vehicles/{shown['id']}/odometer", params={"limit": 100})
    # Two days after the fill some 4 300 km ago, 40 km further (before the next fill):
    # some 700 km to go by the end of today's trips.
    due_from = last_km[SHOWN] + 104 - 4300
    done = min(readings["items"], key=lambda reading: abs(reading["km"] - due_from))
    performed_at = datetime.fromisoformat(done["read_at"]) + timedelta(days=2)
    api.post(
        "/fleet/maintenance/records",
        {
            "vehicle_id": shown["id"],
            "schedule_id": schedule["id"],
            "performed_at": performed_at.isoformat(),
            "odometer_km": done["km"] + 40,
            "cost": "389.90",
            "vendor": "Oficina Mecânica São Jorge",
        },
    )
    api.post(
        "/fleet/maintenance/schedules",
        {"vehicle_id": shown["id"], "name": "Alinhamento e balanceamento", "every_km": 10000},
    )
    api.post(
        "/fleet/documents",
        {
            "vehicle_id": shown["id"],
            "type": "insurance",
            "number": "Porto Seguro 0457.221-9",
            "valid_from": (today - timedelta(days=353)).isoformat(),
            "valid_until": (today + timedelta(days=12)).isoformat(),
        },
    )
    api.post(
        "/fleet/documents",
        {
            "vehicle_id": shown["id"],
            "type": "registration",
            "number": "CRLV 01234567890",
            "valid_from": date(today.year, 1, 1).isoformat(),
            "valid_until": date(today.year, 12, 31).isoformat(),
        },
    )

    # Today: the first drivers took their vehicles out; the first is out again now,
    # having failed the brakes on the morning's checklist (with a photo).
    for (user, _), vehicle, km in zip(drivers[:4], vehicles, last_km, strict=False):
        mine = Client(stack, user.token)
        trip = mine.post(
            "/fleet/trips",
            {"vehicle_id": vehicle["id"], "odometer_km": km + 12, "purpose": "Entregas no Centro"},
        )
        mine.post(f"/fleet/trips/{trip['id']}/check-in", {"odometer_km": km + 97})
    driver = drivers[0][0]
    mine = Client(stack, driver.token)
    photo = mine.send(
        "POST",
        "/media/files",
        files={"file": ("freio.jpg", brake_photo(), "image/jpeg")},
        data={"kind": "photo"},
    )
    trip = mine.post(
        "/fleet/trips",
        {
            "vehicle_id": shown["id"],
            "odometer_km": last_km[SHOWN] + 104,
            "purpose": "Entregas na Zona Sul",
        },
    )
    checklist = [
        {"item": "Pneus (calibragem, desgaste, estepe)", "ok": True},
        {"item": "Luzes e setas", "ok": True},
        {
            "item": "Freios",
            "ok": False,
            "severity": "high",
            "note": "Pedal baixo, ruído ao frear",
            "media_ids": [photo["id"]],
        },
        {"item": "Óleo e água", "ok": True},
    ]
    mine.post(
        "/fleet/inspections",
        {"vehicle_id": shown["id"], "trip_id": trip["id"], "items": checklist},
    )
    return Seeded(manager, driver, shown["id"], vehicles)


def sign_in(page: Page, base_url: str, user: Account) -> None:
    """Through the console's own /login form, as a person would."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", user.password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def shoot(browser: Browser, stack: RunningStack, seeded: Seeded, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    office = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="pt-BR", timezone_id="America/Sao_Paulo"
    )
    page = office.new_page()
    sign_in(page, stack.url, seeded.manager)
    page.goto(f"{stack.url}/")
    dashboard = out / "dashboard.png"
    page.screenshot(path=dashboard)
    page.goto(f"{stack.url}/vehicles/{seeded.vehicle_id}")
    page.wait_for_load_state("networkidle")  # the inspection's photo thumbnail
    vehicle = out / "vehicle.png"
    page.screenshot(path=vehicle, full_page=True)
    office.close()

    phone = browser.new_context(
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="pt-BR",
        timezone_id="America/Sao_Paulo",
    )
    page = phone.new_page()
    sign_in(page, stack.url, seeded.driver)
    page.goto(f"{stack.url}/driver")
    driver = out / "driver-phone.png"
    page.screenshot(path=driver)
    phone.close()
    return [dashboard, vehicle, driver]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--database-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="an admin URL of the PostgreSQL server the scratch database is made on",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="frota-screenshots-") as var_dir,
        running_stack(
            args.database_server, Path(var_dir), parts=ALL_PARTS, **NO_RATE_LIMITS
        ) as stack,
    ):
        seeded = seed(stack)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                written = shoot(browser, stack, seeded, args.out)
            finally:
                browser.close()
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
