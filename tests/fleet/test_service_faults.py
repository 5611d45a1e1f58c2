"""When the fleet asks another service first and that service's database is down, the
client hears what that service would have said: 503 with its code and Retry-After —
not a 500 of the fleet's, not a 502. The services here are real apps on real sockets;
the database that is down is a PostgreSQL address where nothing listens."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from flask import Flask

import auth_service
import fleet_service
import media_service
from shared.config import Settings
from shared.db import Database, make_engine
from tests.fleet.conftest import serving
from tests.support.factories import make_assignment, make_driver, make_user, make_vehicle
from tests.support.identity import ApiClient


@pytest.fixture
def database_down(settings: Settings) -> Iterator[Database]:
    """A database that refuses every connection, as a stopped PostgreSQL does."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{port}/frota", settings)
    yield Database(engine)
    engine.dispose()


@pytest.fixture
def media_url_database_down(settings: Settings, database_down: Database) -> Iterator[str]:
    with serving(media_service.create_app(settings, database=database_down)) as url:
        yield url


@pytest.fixture
def auth_url_database_down(settings: Settings, database_down: Database) -> Iterator[str]:
    with serving(auth_service.create_app(settings, database=database_down)) as url:
        yield url


@contextmanager
def fleet_api_with(
    settings: Settings, database: Database, **service_urls: str
) -> Iterator[ApiClient]:
    app: Flask = fleet_service.create_app(
        settings.replace(service_urls={**settings.service_urls, **service_urls}),
        database=database,
    )
    try:
        yield ApiClient(app, "fleet", settings.internal_secret_key)
    finally:
        app.extensions["auth_users"].client.close()
        app.extensions["media_files"].client.close()


def records_citing_a_file(vehicle_id: str, file_id: str) -> dict[str, tuple[str, dict]]:
    """Every fleet write that checks a file with the media service first."""
    return {
        "fuel log receipt": (
            "/api/v1/fleet/fuel-logs",
            {
                "vehicle_id": vehicle_id,
                "odometer_km": 100,
                "fuel_type": "gasoline",
                "liters": "10",
                "total_cost": "50",
                "full_tank": True,
                "receipt_media_id": file_id,
            },
        ),
        "inspection photo": (
            "/api/v1/fleet/inspections",
            {
                "vehicle_id": vehicle_id,
                "items": [{"item": "tyres", "ok": True, "media_ids": [file_id]}],
            },
        ),
        "maintenance invoice": (
            "/api/v1/fleet/maintenance/records",
            {"vehicle_id": vehicle_id, "odometer_km": 100, "cost": "80.00", "media_ids": [file_id]},
        ),
        "document scan": (
            "/api/v1/fleet/documents",
            {"vehicle_id": vehicle_id, "type": "insurance", "number": "AP-1", "media_id": file_id},
        ),
    }


def assert_database_unavailable(response) -> None:
    assert response.status_code == 503, response.json
    assert response.mimetype == "application/json"
    assert response.json["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize("record", list(records_citing_a_file("v", "f")))
def test_a_record_citing_a_file_while_the_media_database_is_down_is_503_and_stores_nothing(
    settings, database, auth_url, media_url_database_down, db_session, manager, record
):
    vehicle_id = str(make_vehicle(db_session).id)
    path, body = records_citing_a_file(vehicle_id, str(uuid.uuid4()))[record]
    with fleet_api_with(settings, database, auth=auth_url, media=media_url_database_down) as api:
        assert_database_unavailable(api.post(path, user=manager, json=body))
        assert api.get(path, user=manager).json["items"] == []


def test_with_the_whole_database_down_a_fuel_log_citing_a_receipt_is_503(
    settings, database_down, auth_url_database_down, media_url_database_down, manager
):
    # One PostgreSQL serves every service: the media service fails first, then the fleet.
    path, body = records_citing_a_file(str(uuid.uuid4()), str(uuid.uuid4()))["fuel log receipt"]
    with fleet_api_with(
        settings, database_down, auth=auth_url_database_down, media=media_url_database_down
    ) as api:
        assert_database_unavailable(api.post(path, user=manager, json=body))
        # And without a receipt, the fleet's own database answers the same.
        del body["receipt_media_id"]
        assert_database_unavailable(api.post(path, user=manager, json=body))


def test_making_a_driver_while_the_auth_database_is_down_is_503(
    settings, database, auth_url_database_down, media_url, db_session, manager
):
    body = {
        "user_id": str(make_user(db_session).id),
        "license_number": "12345678901",
        "license_category": "B",
        "license_expires_on": "2030-05-01",
    }
    with fleet_api_with(settings, database, auth=auth_url_database_down, media=media_url) as api:
        assert_database_unavailable(api.post("/api/v1/fleet/drivers", user=manager, json=body))
        assert api.get("/api/v1/fleet/drivers", user=manager).json["items"] == []


def test_writes_that_ask_whether_a_driver_is_active_are_503_while_the_auth_database_is_down(
    settings, database, auth_url_database_down, media_url, db_session, manager
):
    driver = make_driver(db_session)
    vehicle = make_vehicle(db_session)
    make_assignment(db_session, vehicle=vehicle, driver=driver)
    driver_user = SimpleNamespace(id=str(driver.user_id), role="driver")
    trip = {"vehicle_id": str(vehicle.id), "odometer_km": 100, "purpose": "deliveries"}
    with fleet_api_with(settings, database, auth=auth_url_database_down, media=media_url) as api:
        for response in (
            api.post(
                "/api/v1/fleet/trips", user=manager, json={**trip, "driver_id": str(driver.id)}
            ),
            api.post("/api/v1/fleet/trips", user=driver_user, json=trip),
            api.post(
                f"/api/v1/fleet/vehicles/{vehicle.id}/odometer", user=driver_user, json={"km": 5}
            ),
        ):
            assert_database_unavailable(response)
        assert api.get("/api/v1/fleet/trips", user=manager).json["items"] == []
