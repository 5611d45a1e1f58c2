from __future__ import annotations

import uuid

import pytest

from tests.support.factories import make_user, make_vehicle

INSPECTIONS = "/api/v1/fleet/inspections"
ALERTS = "/api/v1/fleet/alerts"


def item(name="Brakes", ok=True, severity=None, note=None, media_ids=()):
    return {
        "item": name,
        "ok": ok,
        "severity": severity,
        "note": note,
        "media_ids": list(media_ids),
    }


def inspect(fleet_api, user, vehicle, *items, **extra):
    body = {"vehicle_id": str(vehicle.id), "items": list(items), **extra}
    return fleet_api.post(INSPECTIONS, user=user, json=body)


def vehicle_status(fleet_api, user, vehicle):
    return fleet_api.get(f"/api/v1/fleet/vehicles/{vehicle.id}", user=user).json["status"]


def inspection_alerts(fleet_api, manager):
    response = fleet_api.get(ALERTS, user=manager)
    assert response.status_code == 200, response.json
    return [a for a in response.json["items"] if a["kind"] == "inspection"]


def test_a_failed_critical_item_sends_the_vehicle_to_the_workshop_and_raises_an_alert(
    fleet_api, upload_photo, manager, driver_user, vehicle
):
    photo = upload_photo(driver_user)
    response = inspect(
        fleet_api,
        driver_user,
        vehicle,
        item("Tyres"),
        item("Brakes", ok=False, severity="critical", note="Pedal sinks", media_ids=[photo]),
        item("Horn", ok=False, severity="low"),
    )
    assert response.status_code == 201, response.json
    inspection = response.json
    assert inspection["failed"] is True
    assert inspection["failure_severity"] == "critical"
    assert [i["item"] for i in inspection["items"]] == ["Tyres", "Brakes", "Horn"]
    assert inspection["items"][1]["media_ids"] == [photo]
    assert vehicle_status(fleet_api, manager, vehicle) == "workshop"

    alerts = inspection_alerts(fleet_api, manager)
    assert [(a["subject_id"], a["vehicle_id"], a["status"], a["severity"]) for a in alerts] == [
        (inspection["id"], str(vehicle.id), "failed", "critical")
    ]

    path = f"{INSPECTIONS}/{inspection['id']}/resolve"
    assert fleet_api.post(path, user=driver_user, json={"note": "fixed"}).status_code == 403
    resolved = fleet_api.post(path, user=manager, json={"note": "Brake pads replaced"})
    assert resolved.status_code == 200
    assert resolved.json["resolved_by_user_id"] == manager.id
    assert inspection_alerts(fleet_api, manager) == []
    again = fleet_api.post(path, user=manager, json={"note": "again"})
    assert again.status_code == 409
    assert again.json["error"]["code"] == "inspection_already_resolved"
    # The manager, not the resolution, says when the vehicle leaves the workshop.
    assert vehicle_status(fleet_api, manager, vehicle) == "workshop"


def test_a_minor_failure_alerts_but_keeps_the_vehicle_in_service(
    fleet_api, manager, driver_user, vehicle
):
    response = inspect(fleet_api, driver_user, vehicle, item("Wipers", ok=False, severity="high"))
    assert response.json["failure_severity"] == "high"
    assert vehicle_status(fleet_api, manager, vehicle) == "active"
    assert [a["severity"] for a in inspection_alerts(fleet_api, manager)] == ["high"]


def test_a_passed_inspection_has_nothing_to_resolve(fleet_api, manager, driver_user, vehicle):
    passed = inspect(fleet_api, driver_user, vehicle, item(), item("Lights")).json
    assert passed["failed"] is False
    assert passed["failure_severity"] is None
    response = fleet_api.post(
        f"{INSPECTIONS}/{passed['id']}/resolve", user=manager, json={"note": "?"}
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "inspection_passed"
    assert inspection_alerts(fleet_api, manager) == []


def test_an_inspection_citing_another_users_file_is_422(
    fleet_api, db_session, upload_photo, driver_user, vehicle
):
    theirs = upload_photo(make_user(db_session, role="driver"))
    own = upload_photo(driver_user)
    unknown = str(uuid.uuid4())
    response = inspect(
        fleet_api,
        driver_user,
        vehicle,
        item("Tyres", media_ids=[own]),
        item("Mirrors", ok=False, severity="medium", media_ids=[own, theirs, unknown]),
    )
    assert response.status_code == 422
    assert response.json["error"]["details"] == {
        "items": {"1": {"media_ids": [f"no such file: {theirs}", f"no such file: {unknown}"]}}
    }
    assert inspect(fleet_api, driver_user, vehicle, item(media_ids=[own])).status_code == 201


def test_a_manager_may_cite_any_users_file(fleet_api, upload_photo, manager, driver_user, vehicle):
    photo = upload_photo(driver_user)
    response = inspect(fleet_api, manager, vehicle, item(media_ids=[photo]))
    assert response.status_code == 201


def test_a_failed_item_needs_a_severity(fleet_api, driver_user, vehicle):
    response = inspect(fleet_api, driver_user, vehicle, item(), item("Horn", ok=False))
    assert response.status_code == 422
    assert response.json["error"]["details"] == {
        "items": {"1": {"severity": ["required when the item failed"]}}
    }


@pytest.mark.parametrize(
    "items",
    [
        [],
        [item(severity="fatal")],
        [item(name="")],
        [item(name="x\x00y")],
        [{"item": "Brakes"}],
        [item(media_ids=["not-a-uuid"])],
        [item()] * 101,
        [item(media_ids=[str(uuid.uuid4()) for _ in range(20)]) for _ in range(3)],
    ],
)
def test_bad_checklists_are_422(fleet_api, driver_user, vehicle, items):
    response = fleet_api.post(
        INSPECTIONS, user=driver_user, json={"vehicle_id": str(vehicle.id), "items": items}
    )
    assert response.status_code == 422, response.json
    assert "items" in response.json["error"]["details"]


def test_a_driver_inspects_only_a_vehicle_assigned_to_them(fleet_api, db_session, driver_user):
    response = inspect(fleet_api, driver_user, make_vehicle(db_session), item())
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"vehicle_id": ["no such vehicle"]}


def test_an_inspection_on_a_trip_must_name_a_trip_of_that_vehicle(
    fleet_api, db_session, manager, driver_user, vehicle
):
    trip = fleet_api.post(
        "/api/v1/fleet/trips",
        user=driver_user,
        json={"vehicle_id": str(vehicle.id), "odometer_km": 1_000, "purpose": "deliveries"},
    ).json
    on_trip = inspect(fleet_api, driver_user, vehicle, item(), trip_id=trip["id"])
    assert on_trip.status_code == 201
    assert on_trip.json["trip_id"] == trip["id"]

    other_vehicle = make_vehicle(db_session)
    wrong = inspect(fleet_api, manager, other_vehicle, item(), trip_id=trip["id"])
    assert wrong.status_code == 422
    assert "trip_id" in wrong.json["error"]["details"]
    listed = fleet_api.get(INSPECTIONS, user=manager, query_string={"trip_id": trip["id"]})
    assert [i["id"] for i in listed.json["items"]] == [on_trip.json["id"]]


def test_a_driver_sees_only_their_own_inspections(
    fleet_api, db_session, manager, driver_user, vehicle
):
    own = inspect(fleet_api, driver_user, vehicle, item()).json
    theirs = inspect(fleet_api, manager, make_vehicle(db_session), item("Oil", False, "low")).json

    listing = fleet_api.get(INSPECTIONS, user=driver_user)
    assert [i["id"] for i in listing.json["items"]] == [own["id"]]
    assert fleet_api.get(f"{INSPECTIONS}/{theirs['id']}", user=driver_user).status_code == 404
    unresolved = fleet_api.get(INSPECTIONS, user=manager, query_string={"unresolved": "true"})
    assert [i["id"] for i in unresolved.json["items"]] == [theirs["id"]]
