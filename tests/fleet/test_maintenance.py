from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fleet_service.maintenance.models import DUE_SOON_DAYS
from tests.support.factories import (
    make_maintenance_record,
    make_schedule,
    make_user,
    make_vehicle,
)

SCHEDULES = "/api/v1/fleet/maintenance/schedules"
RECORDS = "/api/v1/fleet/maintenance/records"
NOW = datetime.now(UTC).replace(microsecond=0)


def rfc3339(moment):
    return moment.isoformat().replace("+00:00", "Z")


def read_odometer(fleet_api, user, vehicle, km):
    response = fleet_api.post(
        f"/api/v1/fleet/vehicles/{vehicle.id}/odometer", user=user, json={"km": km, "confirm": True}
    )
    assert response.status_code == 201, response.json


def schedule_state(fleet_api, user, schedule):
    response = fleet_api.get(f"{SCHEDULES}/{schedule.id}", user=user)
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def vehicle(db_session):
    return make_vehicle(db_session)


@pytest.fixture
def schedule(db_session, vehicle):
    """Every 10 000 km or 180 days, last done 10 days ago at 20 000 km."""
    schedule = make_schedule(db_session, vehicle=vehicle, every_km=10_000, every_days=180)
    make_maintenance_record(
        db_session,
        vehicle=vehicle,
        schedule=schedule,
        km=20_000,
        performed_at=NOW - timedelta(days=10),
    )
    return schedule


def test_a_schedule_is_due_soon_near_its_km_and_overdue_past_it(
    fleet_api, manager, vehicle, schedule
):
    state = schedule_state(fleet_api, manager, schedule)
    assert (state["due_km"], state["current_km"], state["status"]) == (30_000, 20_000, "ok")
    assert state["due_at"] == rfc3339(NOW + timedelta(days=170))

    read_odometer(fleet_api, manager, vehicle, 28_900)
    assert schedule_state(fleet_api, manager, schedule)["status"] == "ok"
    read_odometer(fleet_api, manager, vehicle, 29_500)
    assert schedule_state(fleet_api, manager, schedule)["status"] == "due_soon"
    read_odometer(fleet_api, manager, vehicle, 30_100)
    assert schedule_state(fleet_api, manager, schedule)["status"] == "overdue"


def test_a_schedule_is_overdue_once_its_days_have_passed_whatever_the_km(
    fleet_api, db_session, manager, vehicle
):
    schedule = make_schedule(db_session, vehicle=vehicle, every_km=10_000, every_days=180)
    done = NOW - timedelta(days=181)
    make_maintenance_record(
        db_session, vehicle=vehicle, schedule=schedule, km=20_000, performed_at=done
    )
    read_odometer(fleet_api, manager, vehicle, 21_000)

    state = schedule_state(fleet_api, manager, schedule)
    assert state["due_at"] == rfc3339(done + timedelta(days=180))
    assert state["last_done_at"] == rfc3339(done)
    assert state["status"] == "overdue"


def test_a_schedule_is_due_soon_days_before_its_date(fleet_api, db_session, manager, vehicle):
    schedule = make_schedule(db_session, vehicle=vehicle, every_days=30)
    make_maintenance_record(
        db_session,
        vehicle=vehicle,
        schedule=schedule,
        km=5_000,
        performed_at=NOW - timedelta(days=30 - DUE_SOON_DAYS + 1),
    )
    state = schedule_state(fleet_api, manager, schedule)
    assert (state["due_km"], state["status"]) == (None, "due_soon")


def test_a_new_record_restarts_the_count(fleet_api, db_session, manager, vehicle, schedule):
    read_odometer(fleet_api, manager, vehicle, 30_100)
    assert schedule_state(fleet_api, manager, schedule)["status"] == "overdue"
    body = {
        "vehicle_id": str(vehicle.id),
        "schedule_id": str(schedule.id),
        "odometer_km": 30_150,
        "cost": "450.00",
        "vendor": "Oficina do Zé",
    }
    assert fleet_api.post(RECORDS, user=manager, json=body).status_code == 201
    state = schedule_state(fleet_api, manager, schedule)
    assert (state["due_km"], state["status"]) == (40_150, "ok")


def test_without_records_a_schedule_counts_from_its_creation_and_the_first_reading(
    fleet_api, manager, vehicle
):
    read_odometer(fleet_api, manager, vehicle, 50_000)
    read_odometer(fleet_api, manager, vehicle, 51_000)
    body = {"vehicle_id": str(vehicle.id), "name": "Tyres", "every_km": 5_000, "every_days": 365}
    created = fleet_api.post(SCHEDULES, user=manager, json=body)
    assert created.status_code == 201, created.json
    schedule = created.json
    assert (schedule["due_km"], schedule["current_km"], schedule["status"]) == (
        55_000,
        51_000,
        "ok",
    )
    created_at = datetime.fromisoformat(schedule["created_at"])
    assert datetime.fromisoformat(schedule["due_at"]) == created_at + timedelta(days=365)
    assert schedule["last_done_at"] is None


def test_schedules_list_by_vehicle_and_status(fleet_api, db_session, manager, vehicle, schedule):
    other = make_schedule(db_session, vehicle=make_vehicle(db_session), every_days=90)
    read_odometer(fleet_api, manager, vehicle, 29_500)

    def ids(**query):
        response = fleet_api.get(SCHEDULES, user=manager, query_string=query)
        assert response.status_code == 200, response.json
        return [s["id"] for s in response.json["items"]]

    assert ids() == [str(schedule.id), str(other.id)]
    assert ids(vehicle_id=vehicle.id) == [str(schedule.id)]
    assert ids(status="due_soon") == [str(schedule.id)]
    assert ids(status="ok") == [str(other.id)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"every_km": None, "every_days": None}, "every_km"),
        ({"every_km": 0}, "every_km"),
        ({"every_days": -1}, "every_days"),
        ({"every_days": 10**9}, "every_days"),
        ({"name": ""}, "name"),
        ({"vehicle_id": str(uuid.uuid4())}, "vehicle_id"),
    ],
)
def test_bad_schedules_are_422_naming_the_field(fleet_api, manager, vehicle, change, field):
    body = {"vehicle_id": str(vehicle.id), "name": "Oil", "every_km": 10_000, **change}
    response = fleet_api.post(SCHEDULES, user=manager, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]


def test_a_record_creates_its_odometer_reading_and_keeps_its_files(
    fleet_api, db_session, upload_photo, manager, vehicle
):
    invoice = upload_photo(make_user(db_session, role="driver"))
    body = {
        "vehicle_id": str(vehicle.id),
        "performed_at": rfc3339(NOW - timedelta(days=1)),
        "odometer_km": 12_345,
        "cost": "1234.5",
        "vendor": "  Pneus Silva ",
        "notes": "Four new tyres",
        "media_ids": [invoice, invoice],
    }
    response = fleet_api.post(RECORDS, user=manager, json=body)
    assert response.status_code == 201, response.json
    record = response.json
    assert record["cost"] == "1234.50"
    assert record["vendor"] == "Pneus Silva"
    assert record["media_ids"] == [invoice]
    assert record["schedule_id"] is None
    readings = fleet_api.get(f"/api/v1/fleet/vehicles/{vehicle.id}/odometer", user=manager)
    assert [(r["id"], r["source"]) for r in readings.json["items"]] == [
        (record["odometer_reading_id"], "maintenance")
    ]

    unknown = str(uuid.uuid4())
    refused = fleet_api.post(RECORDS, user=manager, json={**body, "media_ids": [unknown]})
    assert refused.status_code == 422
    assert refused.json["error"]["details"] == {"media_ids": [f"no such file: {unknown}"]}


def test_a_record_under_another_vehicles_schedule_is_422(
    fleet_api, db_session, manager, vehicle, schedule
):
    other = make_vehicle(db_session)
    body = {
        "vehicle_id": str(other.id),
        "schedule_id": str(schedule.id),
        "odometer_km": 100,
        "cost": "10",
    }
    response = fleet_api.post(RECORDS, user=manager, json=body)
    assert response.status_code == 422
    assert "schedule_id" in response.json["error"]["details"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cost": "-1"}, "cost"),
        ({"cost": "NaN"}, "cost"),
        ({"odometer_km": -1}, "odometer_km"),
        ({"notes": "x" * 2001}, "notes"),
        ({"media_ids": ["nope"]}, "media_ids"),
        ({"media_ids": [str(uuid.uuid4()) for _ in range(21)]}, "media_ids"),
        ({"performed_at": "yesterday"}, "performed_at"),
        ({"performed_at": "2199-01-01T00:00:00Z"}, "performed_at"),
    ],
)
def test_bad_records_are_422_naming_the_field(fleet_api, manager, vehicle, change, field):
    body = {"vehicle_id": str(vehicle.id), "odometer_km": 100, "cost": "10", **change}
    response = fleet_api.post(RECORDS, user=manager, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]


def test_maintenance_is_for_managers(fleet_api, db_session, vehicle, schedule):
    driver = make_user(db_session, role="driver")
    assert fleet_api.get(SCHEDULES, user=driver).status_code == 403
    assert fleet_api.get(RECORDS, user=driver).status_code == 403
    body = {"vehicle_id": str(vehicle.id), "odometer_km": 100, "cost": "10"}
    assert fleet_api.post(RECORDS, user=driver, json=body).status_code == 403


def test_records_list_by_vehicle_and_time_and_as_csv(fleet_api, db_session, manager, vehicle):
    records = [
        make_maintenance_record(
            db_session,
            vehicle=vehicle,
            km=10_000 + n,
            performed_at=NOW - timedelta(days=5 - n),
            cost=Decimal(100 * n),
        )
        for n in range(3)
    ]
    make_maintenance_record(
        db_session, vehicle=make_vehicle(db_session), km=5, performed_at=NOW, cost="1"
    )
    query = {"vehicle_id": vehicle.id, "from": rfc3339(NOW - timedelta(days=4))}
    listing = fleet_api.get(RECORDS, user=manager, query_string=query)
    assert [r["id"] for r in listing.json["items"]] == [str(records[2].id), str(records[1].id)]

    exported = fleet_api.get(RECORDS, user=manager, query_string={**query, "format": "csv"})
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(row["id"], row["cost"]) for row in rows] == [
        (item["id"], item["cost"]) for item in listing.json["items"]
    ]
