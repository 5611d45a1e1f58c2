from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.support.factories import (
    make_assignment,
    make_document,
    make_driver,
    make_maintenance_record,
    make_schedule,
    make_user,
    make_vehicle,
)

ALERTS = "/api/v1/fleet/alerts"
DOCUMENTS = "/api/v1/fleet/documents"
TODAY = datetime.now(UTC).date()
NOW = datetime.now(UTC)


def in_days(n):
    return TODAY + timedelta(days=n)


def alerts(fleet_api, manager, **query):
    response = fleet_api.get(ALERTS, user=manager, query_string=query)
    assert response.status_code == 200, response.json
    return response.json["items"]


def subjects(items, kind):
    return [(a["subject_id"], a["status"]) for a in items if a["kind"] == kind]


def test_documents_expiring_within_30_days_or_as_asked_are_alerts(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    soon = make_document(db_session, vehicle=vehicle, type="Insurance", valid_until=in_days(20))
    later = make_document(db_session, vehicle=vehicle, type="registration", valid_until=in_days(40))
    make_document(db_session, vehicle=vehicle, type="permit", valid_until=None)

    assert subjects(alerts(fleet_api, manager), "document") == [(str(soon.id), "expiring")]
    assert subjects(alerts(fleet_api, manager, within_days=45), "document") == [
        (str(soon.id), "expiring"),
        (str(later.id), "expiring"),
    ]


def test_a_renewed_document_replaces_the_expired_one(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    expired = make_document(db_session, vehicle=vehicle, valid_until=in_days(-3))
    assert subjects(alerts(fleet_api, manager), "document") == [(str(expired.id), "expired")]
    make_document(db_session, vehicle=vehicle, type=" INSURANCE ", valid_until=in_days(365))
    assert subjects(alerts(fleet_api, manager), "document") == []


def test_driver_licenses_and_documents_expiring_are_alerts(fleet_api, db_session, manager):
    driver = make_driver(db_session, license_expires_on=in_days(10))
    make_driver(db_session, license_expires_on=in_days(31))
    expired = make_driver(db_session, license_expires_on=in_days(-1))
    permit = make_document(db_session, driver=driver, type="hazmat permit", valid_until=in_days(5))

    items = alerts(fleet_api, manager)
    assert subjects(items, "license") == [
        (str(expired.id), "expired"),
        (str(driver.id), "expiring"),
    ]
    license_alert = next(a for a in items if a["subject_id"] == str(driver.id))
    assert license_alert["driver_id"] == str(driver.id)
    assert license_alert["due_on"] == in_days(10).isoformat()
    assert subjects(items, "document") == [(str(permit.id), "expiring")]


def test_maintenance_due_soon_and_overdue_are_alerts(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    overdue = make_schedule(db_session, vehicle=vehicle, every_days=180, name="Brakes")
    make_maintenance_record(
        db_session, vehicle=vehicle, schedule=overdue, km=1_000, performed_at=NOW - timedelta(181)
    )
    due_soon = make_schedule(db_session, vehicle=vehicle, every_km=900, name="Oil")
    make_schedule(db_session, vehicle=vehicle, every_km=50_000, name="Timing belt")

    items = alerts(fleet_api, manager)
    assert subjects(items, "maintenance") == [
        (str(overdue.id), "overdue"),
        (str(due_soon.id), "due_soon"),
    ]
    oil = next(a for a in items if a["subject_id"] == str(due_soon.id))
    # No record yet: counted from the vehicle's first reading.
    assert (oil["title"], oil["due_km"], oil["current_km"]) == ("Oil", 1_900, 1_000)


@pytest.mark.parametrize("status", ["sold", "inactive", "retired"])
def test_vehicles_out_of_service_raise_no_alerts(fleet_api, db_session, manager, status):
    vehicle = make_vehicle(db_session)
    make_document(db_session, vehicle=vehicle, valid_until=in_days(1))
    make_schedule(db_session, vehicle=vehicle, every_days=1)
    fleet_api.post(
        "/api/v1/fleet/inspections",
        user=manager,
        json={
            "vehicle_id": str(vehicle.id),
            "items": [{"item": "Brakes", "ok": False, "severity": "medium"}],
        },
    )
    # One alert of each kind while in service: the ones taking it out of service must clear.
    assert sorted(a["kind"] for a in alerts(fleet_api, manager)) == [
        "document",
        "inspection",
        "maintenance",
    ]

    path = f"/api/v1/fleet/vehicles/{vehicle.id}"
    if status == "retired":
        assert fleet_api.delete(path, user=manager).status_code == 200
    else:
        fleet_api.call("PATCH", path, user=manager, json={"status": status})
    assert alerts(fleet_api, manager) == []


def test_alerts_are_for_managers_and_within_days_is_checked(fleet_api, db_session, manager):
    assert fleet_api.get(ALERTS, user=make_user(db_session, role="driver")).status_code == 403
    response = fleet_api.get(ALERTS, user=manager, query_string={"within_days": -1})
    assert response.status_code == 422
    assert "within_days" in response.json["error"]["details"]


def test_a_document_is_filed_for_a_vehicle_or_a_driver(
    fleet_api, db_session, upload_photo, manager
):
    vehicle = make_vehicle(db_session)
    scan = upload_photo(manager)
    body = {
        "vehicle_id": str(vehicle.id),
        "type": "Registration",
        "number": " CRLV-123 ",
        "valid_from": "2026-01-01",
        "valid_until": "2026-12-31",
        "media_id": scan,
    }
    response = fleet_api.post(DOCUMENTS, user=manager, json=body)
    assert response.status_code == 201, response.json
    document = response.json
    assert (document["type"], document["number"]) == ("registration", "CRLV-123")
    assert document["valid_until"] == "2026-12-31"
    assert document["media_id"] == scan
    assert fleet_api.get(f"{DOCUMENTS}/{document['id']}", user=manager).json == document


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"driver_id": None, "vehicle_id": None}, "_schema"),
        ({"driver_id": "VEHICLE_TOO"}, "_schema"),
        ({"valid_from": "2026-02-01", "valid_until": "2026-01-01"}, "valid_until"),
        ({"valid_until": "2026-02-30"}, "valid_until"),
        ({"type": ""}, "type"),
        ({"number": "n\x00"}, "number"),
        ({"media_id": "MISSING"}, "media_id"),
    ],
)
def test_bad_documents_are_422_naming_the_field(fleet_api, db_session, manager, change, field):
    vehicle = make_vehicle(db_session)
    body = {"vehicle_id": str(vehicle.id), "type": "insurance", "number": "1", **change}
    if body.get("driver_id") == "VEHICLE_TOO":
        body["driver_id"] = str(make_driver(db_session).id)
    if body.get("media_id") == "MISSING":
        body["media_id"] = str(vehicle.id)
    response = fleet_api.post(DOCUMENTS, user=manager, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]


def test_a_driver_sees_their_own_documents_and_their_vehicles(fleet_api, db_session, manager):
    driver_user = make_user(db_session, role="driver")
    driver = make_driver(db_session, user=driver_user)
    vehicle = make_vehicle(db_session)
    make_assignment(db_session, vehicle=vehicle, driver=driver)
    own = make_document(db_session, driver=driver, type="medical", valid_until=date(2030, 1, 1))
    of_vehicle = make_document(db_session, vehicle=vehicle, valid_until=date(2030, 1, 1))
    make_document(db_session, vehicle=make_vehicle(db_session), valid_until=None)
    make_document(db_session, driver=make_driver(db_session), valid_until=None)

    listing = fleet_api.get(DOCUMENTS, user=driver_user)
    assert {d["id"] for d in listing.json["items"]} == {str(own.id), str(of_vehicle.id)}
    assert len(fleet_api.get(DOCUMENTS, user=manager).json["items"]) == 4
    by_type = fleet_api.get(DOCUMENTS, user=manager, query_string={"type": "Medical"})
    assert [d["id"] for d in by_type.json["items"]] == [str(own.id)]
    body = {"driver_id": str(driver.id), "type": "x", "number": "1"}
    assert fleet_api.post(DOCUMENTS, user=driver_user, json=body).status_code == 403


def test_alerts_name_their_vehicle_by_plate_and_their_driver(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    driver = make_driver(db_session, license_expires_on=in_days(3))
    make_document(db_session, vehicle=vehicle, valid_until=in_days(1))
    make_document(db_session, driver=driver, type="hazmat permit", valid_until=in_days(2))
    make_schedule(db_session, vehicle=vehicle, every_days=1)
    fleet_api.post(
        "/api/v1/fleet/inspections",
        user=manager,
        json={
            "vehicle_id": str(vehicle.id),
            "items": [{"item": "Brakes", "ok": False, "severity": "critical"}],
        },
    )
    named = {(a["kind"], a["plate"], a["driver_name"]) for a in alerts(fleet_api, manager)}
    assert named == {
        ("inspection", vehicle.plate, None),
        ("maintenance", vehicle.plate, None),
        ("document", vehicle.plate, None),
        ("document", None, driver.full_name),
        ("license", None, driver.full_name),
    }
