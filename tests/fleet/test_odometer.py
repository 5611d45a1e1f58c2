from __future__ import annotations

import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from fleet_service.odometer import service as odometer
from fleet_service.odometer.models import OdometerReading
from fleet_service.vehicles.models import Vehicle
from shared.errors import APIError
from tests.support.factories import make_assignment, make_driver, make_user, make_vehicle

DAY_1 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
DAY_2 = DAY_1 + timedelta(days=1)
DAY_3 = DAY_1 + timedelta(days=2)


def rfc3339(moment):
    return moment.isoformat().replace("+00:00", "Z")


def post_reading(fleet_api, user, vehicle, km, read_at=None, **extra):
    body = {"km": km, **({"read_at": rfc3339(read_at)} if read_at else {}), **extra}
    return fleet_api.post(f"/api/v1/fleet/vehicles/{vehicle.id}/odometer", user=user, json=body)


def odometer_of(fleet_api, user, vehicle):
    return fleet_api.get(f"/api/v1/fleet/vehicles/{vehicle.id}", user=user).json["odometer_km"]


def void(fleet_api, user, reading_id, reason="typo"):
    return fleet_api.post(
        f"/api/v1/fleet/odometer-readings/{reading_id}/void", user=user, json={"reason": reason}
    )


def test_back_dated_reading_must_fit_between_neighbours(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    first = post_reading(fleet_api, manager, vehicle, 10_000, DAY_1)
    last = post_reading(fleet_api, manager, vehicle, 10_500, DAY_3)
    assert first.status_code == last.status_code == 201

    refused = post_reading(fleet_api, manager, vehicle, 10_700, DAY_2)
    assert refused.status_code == 409
    error = refused.json["error"]
    assert error["code"] == "odometer_not_monotonic"
    assert error["details"]["previous"] == {
        "id": first.json["id"],
        "km": 10_000,
        "read_at": rfc3339(DAY_1),
    }
    assert error["details"]["next"]["id"] == last.json["id"]

    fitting = post_reading(fleet_api, manager, vehicle, 10_200, DAY_2)
    assert fitting.status_code == 201
    assert fitting.json["source"] == "manual"
    assert fitting.json["author_user_id"] == manager.id
    assert odometer_of(fleet_api, manager, vehicle) == 10_500


def test_readings_at_one_instant_must_agree(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    assert post_reading(fleet_api, manager, vehicle, 10_000, DAY_1).status_code == 201
    assert post_reading(fleet_api, manager, vehicle, 10_000, DAY_1).status_code == 201
    disagreeing = post_reading(fleet_api, manager, vehicle, 10_001, DAY_1)
    assert disagreeing.status_code == 409
    assert disagreeing.json["error"]["code"] == "odometer_not_monotonic"


def test_a_wrong_reading_is_voided_and_entered_again(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    post_reading(fleet_api, manager, vehicle, 10_000, DAY_1)
    typo = post_reading(fleet_api, manager, vehicle, 100_500, DAY_3, confirm=True)
    assert typo.status_code == 201
    # The right value cannot sit beside the wrong one...
    assert post_reading(fleet_api, manager, vehicle, 10_500, DAY_3).status_code == 409

    voided = void(fleet_api, manager, typo.json["id"], reason="extra zero")
    assert voided.status_code == 200
    assert voided.json["void_reason"] == "extra zero"
    assert voided.json["voided_by_user_id"] == manager.id
    assert odometer_of(fleet_api, manager, vehicle) == 10_000
    # ...but replaces it once it is void.
    assert post_reading(fleet_api, manager, vehicle, 10_500, DAY_3).status_code == 201
    assert odometer_of(fleet_api, manager, vehicle) == 10_500

    twice = void(fleet_api, manager, typo.json["id"])
    assert twice.status_code == 409
    assert twice.json["error"]["code"] == "reading_already_void"

    path = f"/api/v1/fleet/vehicles/{vehicle.id}/odometer"
    live = fleet_api.get(path, user=manager).json["items"]
    assert [r["km"] for r in live] == [10_500, 10_000]
    everything = fleet_api.get(path, user=manager, query_string={"include_voided": "true"})
    assert sorted(r["km"] for r in everything.json["items"]) == [10_000, 10_500, 100_500]


def test_an_implausible_jump_needs_confirmation(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    post_reading(fleet_api, manager, vehicle, 10_000, DAY_1)
    # One day later: at most 2000 km is plausible.
    refused = post_reading(fleet_api, manager, vehicle, 12_500, DAY_2)
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "implausible_odometer_jump"
    assert "km" in refused.json["error"]["details"]
    assert post_reading(fleet_api, manager, vehicle, 12_500, DAY_2, confirm=True).status_code == 201


def test_readings_minutes_apart_still_get_the_minimum_allowance(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    post_reading(fleet_api, manager, vehicle, 10_000, DAY_1)
    later = DAY_1 + timedelta(minutes=30)
    assert post_reading(fleet_api, manager, vehicle, 10_450, later).status_code == 201


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"km": -1}, "km"),
        ({"km": "10"}, "km"),
        ({"km": 10, "read_at": "2026-01-01T00:00:00"}, "read_at"),
        ({"km": 10, "read_at": rfc3339(datetime.now(UTC) + timedelta(hours=1))}, "read_at"),
        ({"km": 10, "read_at": "1900-01-01T00:00:00Z"}, "read_at"),
        ({"km": 10, "source": "fuel"}, "source"),
    ],
)
def test_bad_readings_are_422_naming_the_field(fleet_api, db_session, manager, body, bad_field):
    vehicle = make_vehicle(db_session)
    path = f"/api/v1/fleet/vehicles/{vehicle.id}/odometer"
    response = fleet_api.post(path, user=manager, json=body)
    assert response.status_code == 422
    assert bad_field in response.json["error"]["details"]


def test_odometer_is_null_until_the_first_reading(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    assert odometer_of(fleet_api, manager, vehicle) is None
    post_reading(fleet_api, manager, vehicle, 42)
    assert odometer_of(fleet_api, manager, vehicle) == 42


def test_a_driver_records_on_assigned_vehicles_and_sees_only_own_readings(
    fleet_api, db_session, manager
):
    user = make_user(db_session, role="driver")
    assigned, elsewhere = make_vehicle(db_session), make_vehicle(db_session)
    make_assignment(db_session, vehicle=assigned, driver=make_driver(db_session, user=user))
    post_reading(fleet_api, manager, assigned, 10_000, DAY_1)

    own = post_reading(fleet_api, user, assigned, 10_100)
    assert own.status_code == 201
    listing = fleet_api.get(f"/api/v1/fleet/vehicles/{assigned.id}/odometer", user=user)
    assert [r["id"] for r in listing.json["items"]] == [own.json["id"]]

    assert post_reading(fleet_api, user, elsewhere, 1).status_code == 404
    path = f"/api/v1/fleet/vehicles/{elsewhere.id}/odometer"
    assert fleet_api.get(path, user=user).status_code == 404
    assert void(fleet_api, user, own.json["id"]).status_code == 403


def test_voiding_an_unknown_reading_is_404_and_a_blank_reason_422(fleet_api, manager):
    assert void(fleet_api, manager, uuid.uuid4()).status_code == 404
    blank = void(fleet_api, manager, uuid.uuid4(), reason="   ")
    assert blank.status_code == 422
    assert "reason" in blank.json["error"]["details"]


def test_twenty_concurrent_readings_never_break_monotonicity(engine):
    """Real threads, each with its own connection, against committed data.

    Every reading is later in time and lower in km than the one before it, so any
    two of them contradict each other: with the vehicle locked while neighbours
    are checked exactly one gets in; without the lock, most would.
    """
    sessions = sessionmaker(engine, expire_on_commit=False)
    author = uuid.uuid4()
    with sessions() as session:
        vehicle = Vehicle(
            plate=f"CCR{secrets.randbelow(10_000):04d}",
            make="Fiat",
            model="Strada",
            year=2022,
            fuel_types=["diesel"],
        )
        session.add(vehicle)
        session.commit()
    start = datetime.now(UTC) - timedelta(hours=1)
    contenders = 20
    barrier = threading.Barrier(contenders)

    def record(i: int) -> str:
        with sessions() as session:
            barrier.wait(timeout=30)
            try:
                odometer.record_reading(
                    db_session=session,
                    vehicle_id=vehicle.id,
                    km=10_000 - 10 * i,
                    read_at=start + timedelta(minutes=i),
                    source="manual",
                    author_user_id=author,
                )
            except APIError as exc:
                return exc.code
            session.commit()
            return "accepted"

    try:
        with ThreadPoolExecutor(contenders) as pool:
            outcomes = list(pool.map(record, range(contenders)))
        with sessions() as session:
            kms = session.scalars(
                sa.select(OdometerReading.km)
                .where(OdometerReading.vehicle_id == vehicle.id)
                .order_by(OdometerReading.read_at)
            ).all()
        assert kms == sorted(kms)
        assert outcomes.count("accepted") == len(kms) == 1
        assert outcomes.count("odometer_not_monotonic") == contenders - 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(OdometerReading).where(OdometerReading.vehicle_id == vehicle.id))
            conn.execute(sa.delete(Vehicle).where(Vehicle.id == vehicle.id))
