"""A driver whose user account is deactivated in the auth service is put to work by no
route: no trip, no assignment, no inspection — however the request names the driver —
and writes nothing as themself (fuel, readings, check-in). The fleet asks the real auth
service (over HTTP, see conftest.py) at each such write."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

import fleet_service
from tests.support.factories import make_driver, make_user, make_vehicle
from tests.support.identity import ApiClient

TRIPS = "/api/v1/fleet/trips"
ASSIGNMENTS = "/api/v1/fleet/assignments"
INSPECTIONS = "/api/v1/fleet/inspections"
FUEL_LOGS = "/api/v1/fleet/fuel-logs"


@pytest.fixture
def admin(db_session):
    return make_user(db_session, role="admin")


def set_active(auth_api, admin, user, active: bool) -> None:
    """Deactivate (or reactivate) ``user`` as an admin does, through the auth service."""
    response = auth_api.call(
        "PATCH", f"/api/v1/auth/users/{user.id}", user=admin, json={"is_active": active}
    )
    assert response.status_code == 200, response.json


def check_out(fleet_api, user, vehicle, **extra):
    body = {"vehicle_id": str(vehicle.id), "odometer_km": 1_000, "purpose": "deliveries", **extra}
    return fleet_api.post(TRIPS, user=user, json=body)


def inspection(vehicle, **extra):
    return {"vehicle_id": str(vehicle.id), "items": [{"item": "tyres", "ok": True}], **extra}


def assert_driver_inactive(response) -> None:
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "driver_inactive"


def test_a_deactivated_driver_cannot_check_out_for_themself(
    fleet_api, auth_api, admin, manager, driver_user, vehicle
):
    set_active(auth_api, admin, driver_user, False)
    assert_driver_inactive(check_out(fleet_api, driver_user, vehicle))
    assert fleet_api.get(TRIPS, user=manager).json["items"] == []

    # Reactivated, the same request goes through: the auth service's flag is the rule.
    set_active(auth_api, admin, driver_user, True)
    assert check_out(fleet_api, driver_user, vehicle).status_code == 201


def test_a_manager_cannot_check_out_for_a_deactivated_driver(
    fleet_api, auth_api, admin, manager, driver_user, driver, vehicle
):
    set_active(auth_api, admin, driver_user, False)
    assert_driver_inactive(check_out(fleet_api, manager, vehicle, driver_id=str(driver.id)))
    assert fleet_api.get(TRIPS, user=manager).json["items"] == []


def test_a_deactivated_driver_cannot_be_assigned_a_vehicle(
    fleet_api, auth_api, db_session, admin, manager, driver_user, driver
):
    set_active(auth_api, admin, driver_user, False)
    body = {
        "vehicle_id": str(make_vehicle(db_session).id),
        "driver_id": str(driver.id),
        "starts_at": datetime.now(UTC).isoformat(),
    }
    assert_driver_inactive(fleet_api.post(ASSIGNMENTS, user=manager, json=body))
    listed = fleet_api.get(ASSIGNMENTS, user=manager, query_string={"driver_id": str(driver.id)})
    assert listed.json["items"] == []


def test_a_deactivated_driver_cannot_record_an_inspection(
    fleet_api, auth_api, admin, manager, driver_user, vehicle
):
    set_active(auth_api, admin, driver_user, False)
    assert_driver_inactive(fleet_api.post(INSPECTIONS, user=driver_user, json=inspection(vehicle)))
    assert fleet_api.get(INSPECTIONS, user=manager).json["items"] == []


def test_no_inspection_is_recorded_on_the_trip_of_a_deactivated_driver(
    fleet_api, auth_api, admin, manager, driver_user, driver, vehicle
):
    trip = check_out(fleet_api, manager, vehicle, driver_id=str(driver.id)).json
    set_active(auth_api, admin, driver_user, False)
    body = inspection(vehicle, trip_id=trip["id"])
    assert_driver_inactive(fleet_api.post(INSPECTIONS, user=manager, json=body))
    # Without the trip the manager's own inspection of the vehicle is theirs to make.
    assert fleet_api.post(INSPECTIONS, user=manager, json=inspection(vehicle)).status_code == 201


def test_a_driver_deactivated_on_a_trip_cannot_check_in_but_a_manager_can(
    fleet_api, auth_api, admin, manager, driver_user, vehicle
):
    trip = check_out(fleet_api, driver_user, vehicle).json
    set_active(auth_api, admin, driver_user, False)
    check_in = f"{TRIPS}/{trip['id']}/check-in"
    assert_driver_inactive(fleet_api.post(check_in, user=driver_user, json={"odometer_km": 1_050}))
    # Bringing the vehicle back puts nobody to work: refusing it would strand the vehicle.
    back = fleet_api.post(check_in, user=manager, json={"odometer_km": 1_050})
    assert back.status_code == 200


def test_a_deactivated_driver_logs_no_fuel_and_no_odometer_reading(
    fleet_api, auth_api, admin, manager, driver_user, vehicle
):
    set_active(auth_api, admin, driver_user, False)
    fill = {
        "vehicle_id": str(vehicle.id),
        "odometer_km": 1_000,
        "fuel_type": "gasoline",
        "liters": "20",
        "total_cost": "100",
        "full_tank": True,
    }
    assert_driver_inactive(fleet_api.post(FUEL_LOGS, user=driver_user, json=fill))
    readings = f"/api/v1/fleet/vehicles/{vehicle.id}/odometer"
    assert_driver_inactive(fleet_api.post(readings, user=driver_user, json={"km": 1_000}))
    assert fleet_api.get(FUEL_LOGS, user=manager).json["items"] == []
    assert fleet_api.get(readings, user=manager).json["items"] == []


def test_active_drivers_are_unaffected(
    fleet_api, db_session, manager, driver_user, driver, vehicle
):
    assert (
        fleet_api.post(INSPECTIONS, user=driver_user, json=inspection(vehicle)).status_code == 201
    )
    assert check_out(fleet_api, driver_user, vehicle).status_code == 201
    body = {
        "vehicle_id": str(make_vehicle(db_session).id),
        "driver_id": str(make_driver(db_session).id),
        "starts_at": datetime.now(UTC).isoformat(),
    }
    assert fleet_api.post(ASSIGNMENTS, user=manager, json=body).status_code == 201


def test_with_the_auth_service_unreachable_writes_that_need_the_driver_status_are_503(
    settings, database, db_session, manager, driver_user, driver, vehicle
):
    # Fail closed: a deactivated driver must not get out because auth could not be asked.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    app = fleet_service.create_app(
        settings.replace(service_urls={**settings.service_urls, "auth": dead_url}),
        database=database,
    )
    api = ApiClient(app, "fleet", settings.internal_secret_key)
    assignment = {
        "vehicle_id": str(make_vehicle(db_session).id),
        "driver_id": str(driver.id),
        "starts_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    try:
        answers = [
            check_out(api, driver_user, vehicle),
            check_out(api, manager, vehicle, driver_id=str(driver.id)),
            api.post(ASSIGNMENTS, user=manager, json=assignment),
            api.post(INSPECTIONS, user=driver_user, json=inspection(vehicle)),
            api.post(
                f"/api/v1/fleet/vehicles/{vehicle.id}/odometer", user=driver_user, json={"km": 5}
            ),
        ]
    finally:
        app.extensions["auth_users"].client.close()
        app.extensions["media_files"].client.close()
    for response in answers:
        assert response.status_code == 503, response.json
        assert response.json["error"]["code"] == "driver_status_unavailable"
        assert response.headers["Retry-After"] == "5"
    assert api.get(TRIPS, user=manager).json["items"] == []


def test_a_driver_whose_user_the_auth_service_does_not_know_is_inactive(
    fleet_api, db_session, manager
):
    # A driver record left behind by a user that no longer exists drives nothing either.
    ghost = SimpleNamespace(id=uuid.uuid4(), full_name="Ghost", role="driver", is_active=True)
    driver = make_driver(db_session, user=ghost)
    body = {
        "vehicle_id": str(make_vehicle(db_session).id),
        "driver_id": str(driver.id),
        "starts_at": datetime.now(UTC).isoformat(),
    }
    assert_driver_inactive(fleet_api.post(ASSIGNMENTS, user=manager, json=body))
