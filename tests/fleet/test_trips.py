from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from fleet_service.trips.models import Trip
from tests.support.factories import make_assignment, make_driver, make_user, make_vehicle

TRIPS = "/api/v1/fleet/trips"


def check_out(fleet_api, user, vehicle, km=10_000, **extra):
    body = {"vehicle_id": str(vehicle.id), "odometer_km": km, "purpose": "deliveries", **extra}
    return fleet_api.post(TRIPS, user=user, json=body)


def check_in(fleet_api, user, trip_id, km):
    return fleet_api.post(f"{TRIPS}/{trip_id}/check-in", user=user, json={"odometer_km": km})


def test_a_driver_checks_out_an_assigned_vehicle_and_checks_it_in(
    fleet_api, driver_user, driver, vehicle
):
    out = check_out(fleet_api, driver_user, vehicle, km=10_000)
    assert out.status_code == 201
    trip = out.json
    assert trip["driver_id"] == str(driver.id)
    assert trip["start_km"] == 10_000
    assert trip["ended_at"] is None

    back = check_in(fleet_api, driver_user, trip["id"], 10_120)
    assert back.status_code == 200
    assert back.json["end_km"] == 10_120
    assert back.json["distance_km"] == 120
    ended_at = datetime.fromisoformat(back.json["ended_at"])
    assert ended_at >= datetime.fromisoformat(trip["started_at"])

    readings = fleet_api.get(f"/api/v1/fleet/vehicles/{vehicle.id}/odometer", user=driver_user)
    assert [(r["source"], r["km"]) for r in readings.json["items"]] == [
        ("trip_end", 10_120),
        ("trip_start", 10_000),
    ]
    vehicle_now = fleet_api.get(f"/api/v1/fleet/vehicles/{vehicle.id}", user=driver_user)
    assert vehicle_now.json["odometer_km"] == 10_120


def test_a_second_check_out_of_a_vehicle_on_a_trip_is_409(
    fleet_api, db_session, manager, driver, vehicle
):
    first = check_out(fleet_api, manager, vehicle, driver_id=str(driver.id))
    assert first.status_code == 201
    other = make_driver(db_session)
    second = check_out(fleet_api, manager, vehicle, km=10_050, driver_id=str(other.id))
    assert second.status_code == 409
    assert second.json["error"]["code"] == "trip_already_open"


def test_a_driver_on_a_trip_cannot_check_out_another_vehicle(
    fleet_api, db_session, manager, driver, vehicle
):
    assert check_out(fleet_api, manager, vehicle, driver_id=str(driver.id)).status_code == 201
    response = check_out(fleet_api, manager, make_vehicle(db_session), driver_id=str(driver.id))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "trip_already_open"


def test_check_in_below_the_start_is_refused_and_the_trip_stays_open(
    fleet_api, driver_user, vehicle
):
    trip = check_out(fleet_api, driver_user, vehicle, km=10_000).json
    below = check_in(fleet_api, driver_user, trip["id"], 9_990)
    assert below.status_code == 409
    assert below.json["error"]["code"] == "odometer_not_monotonic"
    assert "odometer_km" in below.json["error"]["details"]
    assert fleet_api.get(f"{TRIPS}/{trip['id']}", user=driver_user).json["ended_at"] is None

    assert check_in(fleet_api, driver_user, trip["id"], 10_000).status_code == 200
    again = check_in(fleet_api, driver_user, trip["id"], 10_010)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "trip_already_closed"


def test_check_out_is_all_or_nothing(fleet_api, manager, driver_user, vehicle):
    path = f"/api/v1/fleet/vehicles/{vehicle.id}/odometer"
    earlier = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    fleet_api.post(path, user=manager, json={"km": 20_000, "read_at": earlier})

    below = check_out(fleet_api, driver_user, vehicle, km=19_000)
    assert below.status_code == 409
    assert below.json["error"]["code"] == "odometer_not_monotonic"
    jump = check_out(fleet_api, driver_user, vehicle, km=90_000)
    assert jump.status_code == 422
    assert jump.json["error"]["code"] == "implausible_odometer_jump"
    # The details name the field as the body has it.
    assert set(jump.json["error"]["details"]) == {"odometer_km", "previous"}

    assert fleet_api.get(TRIPS, user=manager).json["items"] == []
    assert [r["km"] for r in fleet_api.get(path, user=manager).json["items"]] == [20_000]
    confirmed = check_out(fleet_api, driver_user, vehicle, km=90_000, confirm=True)
    assert confirmed.status_code == 201


def test_a_driver_cannot_check_out_a_vehicle_not_assigned_to_them(
    fleet_api, db_session, driver_user, driver
):
    response = check_out(fleet_api, driver_user, make_vehicle(db_session))
    assert response.status_code == 422
    assert "vehicle_id" in response.json["error"]["details"]


def test_a_driver_checks_out_only_as_themselves(fleet_api, db_session, driver_user, vehicle):
    other = make_driver(db_session)
    response = check_out(fleet_api, driver_user, vehicle, driver_id=str(other.id))
    assert response.status_code == 403


def test_a_user_without_a_driver_record_cannot_check_out(fleet_api, db_session, vehicle):
    response = check_out(fleet_api, make_user(db_session, role="driver"), vehicle)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "driver_record_required"


def test_a_manager_checks_out_on_behalf_of_a_named_driver(fleet_api, manager, driver, vehicle):
    unnamed = check_out(fleet_api, manager, vehicle)
    assert unnamed.status_code == 422
    assert "driver_id" in unnamed.json["error"]["details"]
    unknown = check_out(fleet_api, manager, vehicle, driver_id=str(uuid.uuid4()))
    assert unknown.status_code == 422
    assert "driver_id" in unknown.json["error"]["details"]
    named = check_out(fleet_api, manager, vehicle, driver_id=str(driver.id))
    assert named.status_code == 201
    assert named.json["driver_id"] == str(driver.id)


@pytest.mark.parametrize("status", ["workshop", "inactive", "sold"])
def test_a_vehicle_out_of_service_cannot_be_checked_out(
    fleet_api, manager, driver_user, vehicle, status
):
    path = f"/api/v1/fleet/vehicles/{vehicle.id}"
    fleet_api.call("PATCH", path, user=manager, json={"status": status})
    response = check_out(fleet_api, driver_user, vehicle)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "vehicle_unavailable"


def test_a_retired_vehicle_cannot_be_checked_out(fleet_api, db_session, manager, driver):
    vehicle = make_vehicle(db_session)
    assert fleet_api.delete(f"/api/v1/fleet/vehicles/{vehicle.id}", user=manager).status_code == 200
    response = check_out(fleet_api, manager, vehicle, driver_id=str(driver.id))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "vehicle_unavailable"


def test_a_vehicle_on_a_trip_cannot_be_retired(fleet_api, manager, driver, vehicle):
    check_out(fleet_api, manager, vehicle, driver_id=str(driver.id))
    response = fleet_api.delete(f"/api/v1/fleet/vehicles/{vehicle.id}", user=manager)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "vehicle_in_use"


def test_a_driver_sees_only_their_own_trips(fleet_api, db_session, manager, driver_user, vehicle):
    own = check_out(fleet_api, driver_user, vehicle).json
    other = make_driver(db_session)
    other_vehicle = make_vehicle(db_session)
    theirs = check_out(fleet_api, manager, other_vehicle, driver_id=str(other.id)).json

    listing = fleet_api.get(TRIPS, user=driver_user)
    assert [t["id"] for t in listing.json["items"]] == [own["id"]]
    assert fleet_api.get(f"{TRIPS}/{own['id']}", user=driver_user).status_code == 200
    hidden = fleet_api.get(f"{TRIPS}/{theirs['id']}", user=driver_user)
    assert hidden.status_code == 404
    assert hidden.json["error"]["code"] == "trip_not_found"
    assert check_in(fleet_api, driver_user, theirs["id"], 20_000).status_code == 404


def test_list_filters_by_vehicle_driver_and_time_and_pages(fleet_api, db_session, manager):
    drivers = [make_driver(db_session) for _ in range(3)]
    vehicles = [make_vehicle(db_session) for _ in range(3)]
    trips = []
    for driver, vehicle in zip(drivers, vehicles, strict=True):
        trip = check_out(fleet_api, manager, vehicle, driver_id=str(driver.id)).json
        check_in(fleet_api, manager, trip["id"], 10_010)
        trips.append(trip)

    def ids(**query):
        response = fleet_api.get(TRIPS, user=manager, query_string=query)
        assert response.status_code == 200, response.json
        return [t["id"] for t in response.json["items"]]

    assert ids(vehicle_id=vehicles[0].id) == [trips[0]["id"]]
    assert ids(driver_id=drivers[2].id) == [trips[2]["id"]]
    assert ids(**{"from": trips[1]["started_at"]}) == [trips[2]["id"], trips[1]["id"]]
    assert ids(**{"to": trips[1]["started_at"]}) == [trips[0]["id"]]
    assert ids(open="true") == []

    first_page = fleet_api.get(TRIPS, user=manager, query_string={"limit": 2}).json
    assert [t["id"] for t in first_page["items"]] == [trips[2]["id"], trips[1]["id"]]
    rest = fleet_api.get(
        TRIPS, user=manager, query_string={"limit": 2, "cursor": first_page["next_cursor"]}
    ).json
    assert [t["id"] for t in rest["items"]] == [trips[0]["id"]]
    assert rest["next_cursor"] is None


def test_the_database_allows_one_open_trip_per_vehicle(
    fleet_api, db_session, manager, driver, vehicle
):
    trip = check_out(fleet_api, manager, vehicle, driver_id=str(driver.id)).json
    db_session.add(
        Trip(
            vehicle_id=vehicle.id,
            driver_id=make_driver(db_session).id,
            purpose="bypassing the service",
            started_at=datetime.now(UTC),
            start_km=trip["start_km"],
            start_reading_id=uuid.UUID(trip["start_reading_id"]),
        )
    )
    with pytest.raises(sa.exc.IntegrityError) as caught:
        db_session.flush()
    assert caught.value.orig.diag.constraint_name == "uq_trips_vehicle_open"
    db_session.rollback()


def test_a_page_of_trips_comes_as_csv_too(fleet_api, manager, driver, vehicle):
    trip = check_out(fleet_api, manager, vehicle, driver_id=str(driver.id)).json
    check_in(fleet_api, manager, trip["id"], 10_042)
    exported = fleet_api.get(TRIPS, user=manager, query_string={"format": "csv"})
    assert exported.mimetype == "text/csv"
    assert "X-Next-Cursor" not in exported.headers
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(r["id"], r["distance_km"], r["purpose"]) for r in rows] == [
        (trip["id"], "42", "deliveries")
    ]


def test_a_trip_names_its_vehicles_plate_even_once_the_vehicle_is_no_longer_the_drivers(
    fleet_api, db_session, manager, driver_user, driver
):
    vehicle = make_vehicle(db_session)
    assignment = make_assignment(db_session, vehicle=vehicle, driver=driver)
    trip = check_out(fleet_api, driver_user, vehicle).json
    assert trip["vehicle_plate"] == vehicle.plate
    check_in(fleet_api, driver_user, trip["id"], 10_050)
    ended = fleet_api.post(f"/api/v1/fleet/assignments/{assignment.id}/end", user=manager, json={})
    assert ended.status_code == 200, ended.json
    hidden = fleet_api.get(f"/api/v1/fleet/vehicles/{vehicle.id}", user=driver_user)
    assert hidden.status_code == 404

    (listed,) = fleet_api.get(TRIPS, user=driver_user).json["items"]

    assert listed["vehicle_plate"] == vehicle.plate
