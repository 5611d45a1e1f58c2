from __future__ import annotations

import uuid

import pytest

from tests.support.factories import make_vehicle

VEHICLES = "/api/v1/fleet/vehicles"
MANAGER = (str(uuid.uuid4()), "manager")


def new_vehicle(**fields):
    return {
        "plate": "abc-1234",
        "make": "Volkswagen",
        "model": "Saveiro",
        "year": 2021,
        "fuel_types": ["gasoline", "ethanol"],
        **fields,
    }


def post_vehicle(fleet_api, **fields):
    user, role = MANAGER
    return fleet_api.post(VEHICLES, user=user, role=role, json=new_vehicle(**fields))


def test_plate_is_normalised_to_upper_case_without_separators(fleet_api):
    response = post_vehicle(fleet_api, plate="abc-1234")
    assert response.status_code == 201
    assert response.json["plate"] == "ABC1234"
    assert response.json["status"] == "active"
    assert response.json["created_at"].endswith("Z")


def test_mercosul_plate_is_accepted(fleet_api):
    assert post_vehicle(fleet_api, plate="ABC1D23").json["plate"] == "ABC1D23"


@pytest.mark.parametrize("plate", ["AB12345", "ABCD123", "1234567", "ABC12"])
def test_malformed_plate_is_422_naming_plate(fleet_api, plate):
    response = post_vehicle(fleet_api, plate=plate)
    assert response.status_code == 422
    assert "plate" in response.json["error"]["details"]


def test_second_active_vehicle_with_same_plate_is_409(fleet_api):
    assert post_vehicle(fleet_api, plate="QRS4E56").status_code == 201
    response = post_vehicle(fleet_api, plate="qrs 4e56")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "plate_taken"


def test_vin_with_letter_i_is_422(fleet_api):
    response = post_vehicle(fleet_api, vin="1HGCM82633AI04352")
    assert response.status_code == 422
    assert "vin" in response.json["error"]["details"]


def test_valid_vin_is_stored_upper_case_and_unique(fleet_api):
    first = post_vehicle(fleet_api, plate="VIN1A11", vin="1hgcm82633a004352")
    assert first.status_code == 201
    assert first.json["vin"] == "1HGCM82633A004352"
    second = post_vehicle(fleet_api, plate="VIN1A12", vin="1HGCM82633A004352")
    assert second.status_code == 409
    assert second.json["error"]["code"] == "vin_taken"


def test_unknown_fuel_type_and_future_year_are_422(fleet_api):
    response = post_vehicle(fleet_api, fuel_types=["plutonium"], year=2999)
    assert response.status_code == 422
    assert {"fuel_types", "year"} <= set(response.json["error"]["details"])


def test_drivers_cannot_register_vehicles(fleet_api):
    response = fleet_api.post(VEHICLES, user=str(uuid.uuid4()), role="driver", json=new_vehicle())
    assert response.status_code == 403


def test_get_vehicle_by_id_and_404_for_unknown(fleet_api, db_session):
    vehicle = make_vehicle(db_session)
    user, role = MANAGER
    found = fleet_api.get(f"{VEHICLES}/{vehicle.id}", user=user, role=role)
    assert found.status_code == 200
    assert found.json["id"] == str(vehicle.id)
    missing = fleet_api.get(f"{VEHICLES}/{uuid.uuid4()}", user=user, role=role)
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "vehicle_not_found"


def test_driver_without_assignment_sees_no_vehicle(fleet_api, db_session):
    vehicle = make_vehicle(db_session)
    driver = str(uuid.uuid4())
    listing = fleet_api.get(VEHICLES, user=driver, role="driver")
    assert listing.status_code == 200
    assert listing.json["items"] == []
    assert fleet_api.get(f"{VEHICLES}/{vehicle.id}", user=driver, role="driver").status_code == 404


def test_listing_pages_through_every_vehicle_exactly_once(fleet_api, db_session):
    created = {str(make_vehicle(db_session).id) for _ in range(25)}
    user, role = MANAGER
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = fleet_api.get(VEHICLES, user=user, role=role, query_string=query).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(created)
    assert set(seen) == created


def test_list_filters_by_status_and_text(fleet_api, db_session):
    make_vehicle(db_session, make="Toyota", model="Hilux", status="workshop")
    make_vehicle(db_session, make="Fiat", model="Toro")
    user, role = MANAGER
    in_workshop = fleet_api.get(VEHICLES, user=user, role=role, query_string={"status": "workshop"})
    assert [v["model"] for v in in_workshop.json["items"]] == ["Hilux"]
    toro = fleet_api.get(VEHICLES, user=user, role=role, query_string={"q": "tor"})
    assert [v["model"] for v in toro.json["items"]] == ["Toro"]


def test_limit_out_of_range_and_bad_cursor_are_client_errors(fleet_api):
    user, role = MANAGER
    assert (
        fleet_api.get(VEHICLES, user=user, role=role, query_string={"limit": 500}).status_code
        == 422
    )
    bad = fleet_api.get(VEHICLES, user=user, role=role, query_string={"cursor": "!!!"})
    assert bad.status_code == 400
    assert bad.json["error"]["code"] == "invalid_cursor"
