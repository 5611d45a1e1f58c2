from __future__ import annotations

import uuid

import pytest
from werkzeug.serving import make_server

import fleet_service
from tests.support.factories import make_driver, make_user
from tests.support.identity import ApiClient

DRIVERS = "/api/v1/fleet/drivers"


def new_driver(user_id, **fields):
    return {
        "user_id": str(user_id),
        "license_number": "123.456.789-01",
        "license_category": "AB",
        "license_expires_on": "2030-05-01",
        **fields,
    }


def test_a_manager_makes_an_active_user_a_driver(fleet_api, db_session, manager):
    user = make_user(db_session, role="driver", full_name="Rita Alves")
    response = fleet_api.post(DRIVERS, user=manager, json=new_driver(user.id))
    assert response.status_code == 201
    assert response.json["user_id"] == str(user.id)
    assert response.json["full_name"] == "Rita Alves"
    assert response.json["license_number"] == "12345678901"
    assert response.json["license_category"] == "AB"
    assert response.json["license_expires_on"] == "2030-05-01"


def test_an_unknown_user_is_422_naming_user_id(fleet_api, manager):
    response = fleet_api.post(DRIVERS, user=manager, json=new_driver(uuid.uuid4()))
    assert response.status_code == 422
    assert "user_id" in response.json["error"]["details"]


def test_a_deactivated_user_cannot_become_a_driver(fleet_api, db_session, manager):
    user = make_user(db_session)
    user.is_active = False
    db_session.commit()
    response = fleet_api.post(DRIVERS, user=manager, json=new_driver(user.id))
    assert response.status_code == 422
    assert "user_id" in response.json["error"]["details"]


def test_one_driver_record_per_user(fleet_api, db_session, manager):
    user = make_user(db_session)
    assert fleet_api.post(DRIVERS, user=manager, json=new_driver(user.id)).status_code == 201
    again = new_driver(user.id, license_number="98765432100")
    response = fleet_api.post(DRIVERS, user=manager, json=again)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "driver_exists"


def test_a_license_number_belongs_to_one_driver(fleet_api, db_session, manager):
    make_driver(db_session, license_number="55544433322")
    response = fleet_api.post(
        DRIVERS,
        user=manager,
        json=new_driver(make_user(db_session).id, license_number="555.444.333-22"),
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "license_number_taken"


@pytest.mark.parametrize("category", ["A", "B", "E", "AB", "AD", "AE"])
def test_cnh_categories_and_combinations_are_accepted(fleet_api, db_session, manager, category):
    body = new_driver(make_user(db_session).id, license_category=category)
    assert fleet_api.post(DRIVERS, user=manager, json=body).status_code == 201


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"license_category": "F"}, "license_category"),
        ({"license_category": "BA"}, "license_category"),
        ({"license_number": "12-3"}, "license_number"),
        ({"license_expires_on": "someday"}, "license_expires_on"),
        ({"user_id": "not-a-uuid"}, "user_id"),
    ],
)
def test_bad_fields_are_422_naming_them(fleet_api, db_session, manager, fields, bad_field):
    body = {**new_driver(make_user(db_session).id), **fields}
    response = fleet_api.post(DRIVERS, user=manager, json=body)
    assert response.status_code == 422
    assert bad_field in response.json["error"]["details"]


def test_drivers_cannot_create_or_change_drivers(fleet_api, db_session):
    driver = make_driver(db_session)
    user = make_user(db_session, role="driver")
    assert fleet_api.post(DRIVERS, user=user, json=new_driver(user.id)).status_code == 403
    patch = fleet_api.call("PATCH", f"{DRIVERS}/{driver.id}", user=user, json={"full_name": "X"})
    assert patch.status_code == 403


def test_a_driver_sees_only_their_own_record(fleet_api, db_session):
    own, other = make_driver(db_session), make_driver(db_session)
    user = str(own.user_id)
    listing = fleet_api.get(DRIVERS, user=user, role="driver")
    assert [d["id"] for d in listing.json["items"]] == [str(own.id)]
    assert fleet_api.get(f"{DRIVERS}/{own.id}", user=user, role="driver").status_code == 200
    assert fleet_api.get(f"{DRIVERS}/{other.id}", user=user, role="driver").status_code == 404


def test_managers_list_and_search_drivers(fleet_api, db_session, manager):
    make_driver(db_session, full_name="Bruna Costa")
    make_driver(db_session, full_name="Ana Lima")
    listing = fleet_api.get(DRIVERS, user=manager, query_string={"q": "a"})
    names = [d["full_name"] for d in listing.json["items"]]
    assert names.index("Ana Lima") < names.index("Bruna Costa")
    found = fleet_api.get(DRIVERS, user=manager, query_string={"q": "lima"})
    assert [d["full_name"] for d in found.json["items"]] == ["Ana Lima"]


def test_patch_changes_the_license_and_name(fleet_api, db_session, manager):
    driver = make_driver(db_session)
    response = fleet_api.call(
        "PATCH",
        f"{DRIVERS}/{driver.id}",
        user=manager,
        json={"license_category": "AE", "license_expires_on": "2032-01-31", "full_name": "R. A."},
    )
    assert response.status_code == 200
    assert response.json["license_category"] == "AE"
    assert response.json["license_expires_on"] == "2032-01-31"
    assert response.json["full_name"] == "R. A."
    assert response.json["user_id"] == str(driver.user_id)
    unknown = fleet_api.call("PATCH", f"{DRIVERS}/{uuid.uuid4()}", user=manager, json={})
    assert unknown.status_code == 404
    assert unknown.json["error"]["code"] == "driver_not_found"


def test_auth_service_down_is_a_json_502(settings, database, db_session, manager):
    # A port where nothing listens (bound, then closed).
    server = make_server("127.0.0.1", 0, lambda environ, start_response: [])
    dead_url = f"http://127.0.0.1:{server.server_port}"
    server.server_close()
    app = fleet_service.create_app(
        settings.replace(service_urls={**settings.service_urls, "auth": dead_url}),
        database=database,
    )
    api = ApiClient(app, "fleet", settings.internal_secret_key)
    try:
        response = api.post(DRIVERS, user=manager, json=new_driver(make_user(db_session).id))
    finally:
        app.extensions["auth_users"].client.close()
    assert response.status_code == 502
    assert response.json["error"]["code"] == "upstream_unavailable"
