from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from auth_service.models import User
from fleet_service.vehicles.models import Vehicle
from tests.support.factories import make_assignment, make_driver, make_vehicle

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
    # Each once, in the listing's default order: created_at, then id.
    in_order = db_session.scalars(sa.select(Vehicle.id).order_by(Vehicle.created_at, Vehicle.id))
    assert seen == [str(vehicle_id) for vehicle_id in in_order]
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


# --- changing and retiring ------------------------------------------------------------


def patch_vehicle(fleet_api, vehicle_id, **fields):
    user, role = MANAGER
    return fleet_api.call("PATCH", f"{VEHICLES}/{vehicle_id}", user=user, role=role, json=fields)


def retire(fleet_api, vehicle_id):
    user, role = MANAGER
    return fleet_api.delete(f"{VEHICLES}/{vehicle_id}", user=user, role=role)


def test_patch_changes_only_the_fields_sent_and_normalises_them(fleet_api, db_session):
    vehicle = make_vehicle(db_session, vin="1HGCM82633A004352", make="Fiat")
    response = patch_vehicle(fleet_api, vehicle.id, plate="xyz-9a87", status="workshop", vin=None)
    assert response.status_code == 200
    assert response.json["plate"] == "XYZ9A87"
    assert response.json["status"] == "workshop"
    assert response.json["vin"] is None
    assert response.json["make"] == "Fiat"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"plate": "AB12345"}, "plate"),
        ({"vin": "1HGCM82633AI04352"}, "vin"),
        ({"year": 2999}, "year"),
        ({"status": "parked"}, "status"),
        ({"fuel_types": []}, "fuel_types"),
        ({"odometer_km": 5}, "odometer_km"),
        # PostgreSQL text cannot hold NUL: refused up front, not a 500 from the driver.
        ({"make": "Fi\x00at"}, "make"),
    ],
)
def test_patch_validates_like_create(fleet_api, db_session, fields, bad_field):
    response = patch_vehicle(fleet_api, make_vehicle(db_session).id, **fields)
    assert response.status_code == 422
    assert bad_field in response.json["error"]["details"]


def test_patch_to_a_plate_in_service_is_409(fleet_api, db_session):
    make_vehicle(db_session, plate="PAT1A11")
    response = patch_vehicle(fleet_api, make_vehicle(db_session).id, plate="pat-1a11")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "plate_taken"


def test_drivers_cannot_change_or_retire_vehicles(fleet_api, db_session):
    vehicle = make_vehicle(db_session)
    driver = str(uuid.uuid4())
    path = f"{VEHICLES}/{vehicle.id}"
    assert fleet_api.call("PATCH", path, user=driver, role="driver", json={}).status_code == 403
    assert fleet_api.delete(path, user=driver, role="driver").status_code == 403


def test_retiring_keeps_the_history_and_frees_the_plate(fleet_api, db_session):
    vehicle = make_vehicle(db_session, plate="RET1A23")
    user, role = MANAGER

    retired = retire(fleet_api, vehicle.id)
    assert retired.status_code == 200
    assert retired.json["retired_at"].endswith("Z")

    kept = fleet_api.get(f"{VEHICLES}/{vehicle.id}", user=user, role=role)
    assert kept.status_code == 200
    assert kept.json["retired_at"] == retired.json["retired_at"]
    default_listing = fleet_api.get(VEHICLES, user=user, role=role, query_string={"q": "RET1A23"})
    assert default_listing.json["items"] == []
    with_retired = fleet_api.get(
        VEHICLES, user=user, role=role, query_string={"q": "RET1A23", "include_retired": "true"}
    )
    assert [v["id"] for v in with_retired.json["items"]] == [str(vehicle.id)]

    assert post_vehicle(fleet_api, plate="ret-1a23").status_code == 201
    assert retire(fleet_api, vehicle.id).status_code == 200
    changed = patch_vehicle(fleet_api, vehicle.id, make="Ford")
    assert changed.status_code == 409
    assert changed.json["error"]["code"] == "vehicle_retired"


def test_a_vehicle_still_assigned_cannot_be_retired(fleet_api, db_session):
    vehicle = make_vehicle(db_session)
    assignment = make_assignment(db_session, vehicle=vehicle, driver=make_driver(db_session))
    refused = retire(fleet_api, vehicle.id)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "vehicle_in_use"

    user, role = MANAGER
    ended = fleet_api.post(f"/api/v1/fleet/assignments/{assignment.id}/end", user=user, role=role)
    assert ended.status_code == 200
    assert retire(fleet_api, vehicle.id).status_code == 200


def test_retiring_an_unknown_vehicle_is_404(fleet_api):
    response = retire(fleet_api, uuid.uuid4())
    assert response.status_code == 404
    assert response.json["error"]["code"] == "vehicle_not_found"


# --- what drivers see -------------------------------------------------------------------


def test_a_driver_lists_only_the_vehicles_assigned_to_them_now(fleet_api, db_session):
    driver, other = make_driver(db_session), make_driver(db_session)
    mine, theirs, formerly_mine = (make_vehicle(db_session) for _ in range(3))
    make_vehicle(db_session)
    now = datetime.now(UTC)
    make_assignment(db_session, vehicle=mine, driver=driver)
    make_assignment(db_session, vehicle=theirs, driver=other)
    make_assignment(
        db_session,
        vehicle=formerly_mine,
        driver=driver,
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=1),
    )
    user = db_session.get(User, driver.user_id)

    listing = fleet_api.get(VEHICLES, user=user)
    assert [v["id"] for v in listing.json["items"]] == [str(mine.id)]
    assert fleet_api.get(f"{VEHICLES}/{mine.id}", user=user).status_code == 200
    assert fleet_api.get(f"{VEHICLES}/{theirs.id}", user=user).status_code == 404
    assert fleet_api.get(f"{VEHICLES}/{formerly_mine.id}", user=user).status_code == 404


# --- sorting and pagination -------------------------------------------------------------


def page_through(fleet_api, **query):
    user, role = MANAGER
    items, cursor = [], None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        response = fleet_api.get(VEHICLES, user=user, role=role, query_string=params)
        assert response.status_code == 200, response.json
        items += response.json["items"]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return items


def sort_value(item, key):
    # Times compare as times: isoformat() drops a zero fraction, so strings would not.
    return datetime.fromisoformat(item[key]) if key == "created_at" else item[key]


@pytest.mark.parametrize("sort", ["plate", "-plate", "year", "-year", "created_at", "-created_at"])
def test_listing_sorts_and_its_cursors_keep_the_order(fleet_api, db_session, sort):
    # Years repeat, so the id must break ties for the cursor to stay correct.
    for year in (2020, 2018, 2020, 2019, 2018, 2020, 2021):
        make_vehicle(db_session, year=year)
    items = page_through(fleet_api, sort=sort, limit=2)
    key = sort.removeprefix("-")
    values = [sort_value(item, key) for item in items]
    assert values == sorted(values, reverse=sort.startswith("-"))
    assert len({item["id"] for item in items}) == len(items) == 7


def test_text_search_finds_plates_written_with_separators(fleet_api, db_session):
    make_vehicle(db_session, plate="SRC4D56")
    user, role = MANAGER
    found = fleet_api.get(VEHICLES, user=user, role=role, query_string={"q": "src-4d"})
    assert [v["plate"] for v in found.json["items"]] == ["SRC4D56"]


def test_unknown_sort_key_is_422(fleet_api):
    user, role = MANAGER
    response = fleet_api.get(VEHICLES, user=user, role=role, query_string={"sort": "make"})
    assert response.status_code == 422
    assert "sort" in response.json["error"]["details"]


BULK_INSERT = sa.text(
    """
    INSERT INTO fleet.vehicles (id, plate, make, model, year, fuel_types)
    SELECT gen_random_uuid(),
           'ZZ' || chr(65 + n % 26) || lpad((n / 26)::text, 4, '0'),
           'Bulk', 'Model ' || n, 2000 + n % 25, ARRAY['diesel']::varchar[]
    FROM generate_series(1, :count) AS n
    RETURNING id
    """
)


@pytest.mark.parametrize("sort", ["created_at", "-plate", "year"])
def test_ten_thousand_vehicles_page_by_page_each_exactly_once(fleet_api, db_session, sort):
    inserted = {str(i) for i in db_session.scalars(BULK_INSERT, {"count": 10_000})}
    db_session.commit()
    items = page_through(fleet_api, sort=sort, limit=200)
    seen = [item["id"] for item in items]
    assert len(seen) == len(set(seen))
    assert inserted <= set(seen)
    key = sort.removeprefix("-")
    values = [sort_value(item, key) for item in items]
    assert values == sorted(values, reverse=sort.startswith("-"))


def test_a_page_of_vehicles_comes_as_csv_too(fleet_api, db_session):
    for _ in range(3):
        make_vehicle(db_session, tank_capacity_l=Decimal("55.5"))
    user, role = MANAGER
    query = {"limit": 2}
    page = fleet_api.get(VEHICLES, user=user, role=role, query_string=query).json
    exported = fleet_api.get(
        VEHICLES, user=user, role=role, query_string={**query, "format": "csv"}
    )
    assert exported.mimetype == "text/csv"
    assert exported.headers["X-Next-Cursor"] == page["next_cursor"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(r["id"], r["plate"], r["tank_capacity_l"]) for r in rows] == [
        (v["id"], v["plate"], "55.5") for v in page["items"]
    ]
    assert rows[0]["fuel_types"] == "ethanol gasoline"
