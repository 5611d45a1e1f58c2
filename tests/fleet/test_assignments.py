from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from psycopg2.errors import ExclusionViolation

from fleet_service.assignments.models import Assignment
from tests.support.factories import make_assignment, make_driver, make_vehicle

ASSIGNMENTS = "/api/v1/fleet/assignments"
NOW = datetime.now(UTC).replace(microsecond=0)


def rfc3339(moment):
    return moment.isoformat().replace("+00:00", "Z")


def assign(fleet_api, manager, vehicle, driver, starts_at, ends_at=None):
    body = {"vehicle_id": str(vehicle.id), "driver_id": str(driver.id), "starts_at": starts_at}
    if ends_at:
        body["ends_at"] = ends_at
    return fleet_api.post(ASSIGNMENTS, user=manager, json=body)


def test_a_manager_assigns_a_vehicle_to_a_driver(fleet_api, db_session, manager):
    vehicle, driver = make_vehicle(db_session), make_driver(db_session)
    response = assign(fleet_api, manager, vehicle, driver, "2026-01-05T08:00:00-03:00")
    assert response.status_code == 201
    assert response.json["vehicle_id"] == str(vehicle.id)
    assert response.json["driver_id"] == str(driver.id)
    assert response.json["starts_at"] == "2026-01-05T11:00:00Z"
    assert response.json["ends_at"] is None


@pytest.mark.parametrize("clash", ["vehicle", "driver"])
def test_overlapping_assignments_are_409_naming_the_side(fleet_api, db_session, manager, clash):
    vehicle, driver = make_vehicle(db_session), make_driver(db_session)
    first = assign(fleet_api, manager, vehicle, driver, "2026-02-01T00:00:00Z", "2026-03-01T00:00Z")
    assert first.status_code == 201
    other_vehicle = vehicle if clash == "vehicle" else make_vehicle(db_session)
    other_driver = driver if clash == "driver" else make_driver(db_session)
    response = assign(fleet_api, manager, other_vehicle, other_driver, "2026-02-20T00:00:00Z")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "assignment_overlap"
    assert list(response.json["error"]["details"]) == [f"{clash}_id"]


def test_back_to_back_assignments_do_not_overlap(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    first, second = make_driver(db_session), make_driver(db_session)
    ok = assign(fleet_api, manager, vehicle, first, "2026-02-01T00:00:00Z", "2026-02-10T00:00:00Z")
    assert ok.status_code == 201
    assert assign(fleet_api, manager, vehicle, second, "2026-02-10T00:00:00Z").status_code == 201


def test_the_database_refuses_overlaps_that_bypass_the_service(db_session):
    vehicle = make_vehicle(db_session)
    db_session.add_all(
        [
            Assignment(vehicle_id=vehicle.id, driver_id=make_driver(db_session).id, starts_at=NOW),
            Assignment(
                vehicle_id=vehicle.id,
                driver_id=make_driver(db_session).id,
                starts_at=NOW + timedelta(days=1),
            ),
        ]
    )
    with pytest.raises(sa.exc.IntegrityError) as caught:
        db_session.flush()
    assert isinstance(caught.value.orig, ExclusionViolation)
    assert caught.value.orig.diag.constraint_name == "ex_assignments_vehicle_overlap"
    db_session.rollback()


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"starts_at": "2026-02-01T00:00:00"}, "starts_at"),
        ({"ends_at": "2026-01-01T00:00:00Z"}, "ends_at"),
        # No UTC equivalent in Python: refused, not an OverflowError.
        ({"starts_at": "0001-01-01T00:00:00+14:00"}, "starts_at"),
        ({"vehicle_id": str(uuid.uuid4())}, "vehicle_id"),
        ({"driver_id": str(uuid.uuid4())}, "driver_id"),
    ],
)
def test_bad_fields_are_422_naming_them(fleet_api, db_session, manager, body, bad_field):
    valid = {
        "vehicle_id": str(make_vehicle(db_session).id),
        "driver_id": str(make_driver(db_session).id),
        "starts_at": "2026-02-01T00:00:00Z",
    }
    response = fleet_api.post(ASSIGNMENTS, user=manager, json={**valid, **body})
    assert response.status_code == 422
    assert bad_field in response.json["error"]["details"]


def test_a_retired_vehicle_cannot_be_assigned(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    fleet_api.delete(f"/api/v1/fleet/vehicles/{vehicle.id}", user=manager)
    response = assign(fleet_api, manager, vehicle, make_driver(db_session), rfc3339(NOW))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "vehicle_retired"


def test_ending_an_assignment_frees_the_vehicle_from_then_on(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    assignment = make_assignment(db_session, vehicle=vehicle, driver=make_driver(db_session))

    ended = fleet_api.post(f"{ASSIGNMENTS}/{assignment.id}/end", user=manager)
    assert ended.status_code == 200
    assert ended.json["ends_at"] is not None
    again = fleet_api.post(f"{ASSIGNMENTS}/{assignment.id}/end", user=manager)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "assignment_ended"
    later = assign(fleet_api, manager, vehicle, make_driver(db_session), ended.json["ends_at"])
    assert later.status_code == 201


def test_an_assignment_cannot_end_before_it_starts(fleet_api, db_session, manager):
    assignment = make_assignment(
        db_session, vehicle=make_vehicle(db_session), driver=make_driver(db_session)
    )
    before = rfc3339(assignment.starts_at - timedelta(minutes=1))
    response = fleet_api.post(
        f"{ASSIGNMENTS}/{assignment.id}/end", user=manager, json={"ends_at": before}
    )
    assert response.status_code == 422
    assert "ends_at" in response.json["error"]["details"]
    unknown = fleet_api.post(f"{ASSIGNMENTS}/{uuid.uuid4()}/end", user=manager)
    assert unknown.status_code == 404


def test_list_filters_by_vehicle_driver_and_activity(fleet_api, db_session, manager):
    vehicle, driver = make_vehicle(db_session), make_driver(db_session)
    past = make_assignment(
        db_session,
        vehicle=vehicle,
        driver=driver,
        starts_at=NOW - timedelta(days=10),
        ends_at=NOW - timedelta(days=5),
    )
    current = make_assignment(db_session, vehicle=vehicle, driver=driver)
    make_assignment(db_session, vehicle=make_vehicle(db_session), driver=make_driver(db_session))

    def ids(**query):
        response = fleet_api.get(ASSIGNMENTS, user=manager, query_string=query)
        assert response.status_code == 200
        return [a["id"] for a in response.json["items"]]

    assert ids(vehicle_id=vehicle.id) == [str(current.id), str(past.id)]
    assert ids(driver_id=driver.id, active="true") == [str(current.id)]
    assert ids(vehicle_id=vehicle.id, active="false") == [str(past.id)]


def test_a_driver_sees_only_their_own_assignments(fleet_api, db_session):
    driver, other = make_driver(db_session), make_driver(db_session)
    own = make_assignment(db_session, vehicle=make_vehicle(db_session), driver=driver)
    theirs = make_assignment(db_session, vehicle=make_vehicle(db_session), driver=other)
    user = str(driver.user_id)
    listing = fleet_api.get(ASSIGNMENTS, user=user, role="driver")
    assert [a["id"] for a in listing.json["items"]] == [str(own.id)]
    assert fleet_api.get(f"{ASSIGNMENTS}/{own.id}", user=user, role="driver").status_code == 200
    assert fleet_api.get(f"{ASSIGNMENTS}/{theirs.id}", user=user, role="driver").status_code == 404


def test_drivers_cannot_assign_or_end_assignments(fleet_api, db_session):
    driver = make_driver(db_session)
    vehicle = make_vehicle(db_session)
    user = str(driver.user_id)
    body = {"vehicle_id": str(vehicle.id), "driver_id": str(driver.id), "starts_at": rfc3339(NOW)}
    assert fleet_api.post(ASSIGNMENTS, user=user, role="driver", json=body).status_code == 403
    assignment = make_assignment(db_session, vehicle=vehicle, driver=driver)
    end = fleet_api.post(f"{ASSIGNMENTS}/{assignment.id}/end", user=user, role="driver")
    assert end.status_code == 403
