"""Trips and inspections record their events in the transaction of the change: one per
change made, none for a change refused."""

from __future__ import annotations

import sqlalchemy as sa

from fleet_service.webhooks.models import Event
from tests.support.factories import make_driver

TRIPS = "/api/v1/fleet/trips"
INSPECTIONS = "/api/v1/fleet/inspections"


def events(db_session, *types):
    query = sa.select(Event.type, Event.data).order_by(Event.occurred_at)
    return [(t, data) for t, data in db_session.execute(query) if t in types]


def check_out(fleet_api, user, vehicle, km=10_000, **extra):
    body = {"vehicle_id": str(vehicle.id), "odometer_km": km, "purpose": "deliveries", **extra}
    return fleet_api.post(TRIPS, user=user, json=body)


def inspect(fleet_api, user, vehicle, *items):
    body = {
        "vehicle_id": str(vehicle.id),
        "items": [{"item": name, "ok": ok, "severity": severity} for name, ok, severity in items],
    }
    return fleet_api.post(INSPECTIONS, user=user, json=body)


def test_check_out_and_check_in_each_record_one_event_with_the_trip(
    fleet_api, db_session, driver_user, vehicle
):
    out = check_out(fleet_api, driver_user, vehicle)
    assert out.status_code == 201, out.json
    assert events(db_session, "trip.checked_out", "trip.checked_in") == [
        ("trip.checked_out", out.json)
    ]

    back = fleet_api.post(
        f"{TRIPS}/{out.json['id']}/check-in", user=driver_user, json={"odometer_km": 10_120}
    )
    assert back.status_code == 200, back.json
    # Each event carries the trip as the API answered it at that moment.
    assert events(db_session, "trip.checked_out", "trip.checked_in") == [
        ("trip.checked_out", out.json),
        ("trip.checked_in", back.json),
    ]
    assert back.json["distance_km"] == 120


def test_a_refused_check_out_records_no_event(fleet_api, db_session, manager, driver, vehicle):
    assert check_out(fleet_api, manager, vehicle, driver_id=str(driver.id)).status_code == 201
    other = make_driver(db_session)

    refused = check_out(fleet_api, manager, vehicle, km=10_050, driver_id=str(other.id))

    assert refused.status_code == 409
    assert [t for t, _data in events(db_session, "trip.checked_out")] == ["trip.checked_out"]


def test_a_failed_inspection_records_inspection_failed(fleet_api, db_session, driver_user, vehicle):
    response = inspect(
        fleet_api, driver_user, vehicle, ("Tyres", True, None), ("Brakes", False, "high")
    )
    assert response.status_code == 201, response.json

    [(_type, data)] = events(db_session, "inspection.failed")
    assert data["id"] == response.json["id"]
    assert data["vehicle_id"] == str(vehicle.id)
    assert (data["failed"], data["failure_severity"]) == (True, "high")
    assert [(i["item"], i["ok"], i["severity"]) for i in data["items"]] == [
        ("Tyres", True, None),
        ("Brakes", False, "high"),
    ]
    assert data == {field: response.json[field] for field in data}


def test_a_passing_inspection_records_no_event(fleet_api, db_session, driver_user, vehicle):
    response = inspect(fleet_api, driver_user, vehicle, ("Tyres", True, None))
    assert response.status_code == 201, response.json
    assert events(db_session, "inspection.failed") == []
