from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support.factories import (
    make_assignment,
    make_driver,
    make_fuel_log,
    make_user,
    make_vehicle,
)

FUEL_LOGS = "/api/v1/fleet/fuel-logs"
DAY_1 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)


def rfc3339(moment):
    return moment.isoformat().replace("+00:00", "Z")


def day(n):
    return DAY_1 + timedelta(days=n)


def fill(**fields):
    body = {
        "odometer_km": 10_000,
        "fuel_type": "gasoline",
        "liters": "40",
        "total_cost": "200.00",
        "full_tank": True,
        **fields,
    }
    body["vehicle_id"] = str(body["vehicle_id"])
    return body


def consumption(fleet_api, user, vehicle, period_from=DAY_1 - timedelta(days=1)):
    """The vehicle report's figures per fuel type, by fuel type."""
    query = {"from": rfc3339(period_from), "to": rfc3339(datetime.now(UTC) + timedelta(days=1))}
    response = fleet_api.get(
        f"/api/v1/fleet/reports/vehicles/{vehicle.id}", user=user, query_string=query
    )
    assert response.status_code == 200, response.json
    return {fuel["fuel_type"]: fuel for fuel in response.json["vehicle"]["fuel_types"]}


@pytest.fixture
def vehicle(db_session, driver_user):
    """A flex vehicle with a 50 L tank, assigned to ``driver_user`` now."""
    vehicle = make_vehicle(db_session, tank_capacity_l=Decimal(50))
    make_assignment(db_session, vehicle=vehicle, driver=make_driver(db_session, user=driver_user))
    return vehicle


def test_consumption_counts_the_partial_fills_between_two_full_tanks(
    fleet_api, db_session, manager, vehicle
):
    make_fuel_log(db_session, vehicle=vehicle, km=10_000, liters="40", filled_at=day(1))
    make_fuel_log(
        db_session, vehicle=vehicle, km=10_300, liters="20", filled_at=day(2), full_tank=False
    )
    make_fuel_log(db_session, vehicle=vehicle, km=10_600, liters="20", filled_at=day(3))

    gasoline = consumption(fleet_api, manager, vehicle)["gasoline"]
    assert Decimal(gasoline["km_per_liter"]) == Decimal("15.0")
    assert gasoline["measured_km"] == 600
    assert Decimal(gasoline["measured_liters"]) == 40
    # Every litre bought in the period counts as fuel, the first full tank's too.
    assert Decimal(gasoline["liters"]) == 80
    assert gasoline["fills"] == 3


@pytest.mark.parametrize("missed_at", [1, 2])
def test_a_missed_previous_fill_excludes_its_interval(
    fleet_api, db_session, manager, vehicle, missed_at
):
    """The flag on the partial fill or on the closing full tank: the litres are unknown."""
    fills = [(10_000, "40", True), (10_300, "20", False), (10_600, "20", True)]
    for n, (km, liters, full) in enumerate(fills):
        make_fuel_log(
            db_session,
            vehicle=vehicle,
            km=km,
            liters=liters,
            filled_at=day(n),
            full_tank=full,
            missed_previous=n == missed_at,
        )
    assert consumption(fleet_api, manager, vehicle)["gasoline"]["km_per_liter"] is None

    # The chain starts again from the full tank after the gap.
    make_fuel_log(db_session, vehicle=vehicle, km=11_050, liters="30", filled_at=day(3))
    gasoline = consumption(fleet_api, manager, vehicle)["gasoline"]
    assert gasoline["measured_km"] == 450
    assert Decimal(gasoline["km_per_liter"]) == Decimal("15.0")


def test_a_flex_vehicles_gasoline_and_ethanol_consumption_come_out_separately(
    fleet_api, db_session, manager, vehicle
):
    fills = [
        (10_000, "40", "gasoline", True),
        (10_400, "40", "gasoline", True),  # 400 km on 40 L of gasoline
        (10_700, "30", "ethanol", True),  # a tank of gasoline refilled with ethanol: a mix
        (10_850, "15", "ethanol", False),
        (11_000, "15", "ethanol", True),  # 300 km on 30 L of ethanol
        (11_100, "10", "gasoline", False),  # gasoline into ethanol: a mix again
        (11_400, "30", "ethanol", True),
    ]
    for n, (km, liters, fuel_type, full) in enumerate(fills):
        make_fuel_log(
            db_session,
            vehicle=vehicle,
            km=km,
            liters=liters,
            fuel_type=fuel_type,
            full_tank=full,
            filled_at=day(n),
        )

    by_fuel = consumption(fleet_api, manager, vehicle)
    assert Decimal(by_fuel["gasoline"]["km_per_liter"]) == Decimal("10.0")
    assert by_fuel["gasoline"]["measured_km"] == 400
    assert Decimal(by_fuel["ethanol"]["km_per_liter"]) == Decimal("10.0")
    assert by_fuel["ethanol"]["measured_km"] == 300
    assert Decimal(by_fuel["ethanol"]["liters"]) == 90


def test_only_intervals_closed_in_the_period_count(fleet_api, db_session, manager, vehicle):
    make_fuel_log(db_session, vehicle=vehicle, km=10_000, liters="40", filled_at=day(1))
    make_fuel_log(db_session, vehicle=vehicle, km=10_500, liters="50", filled_at=day(3))
    make_fuel_log(db_session, vehicle=vehicle, km=10_900, liters="40", filled_at=day(5))

    # The period opens after the first full tank: the interval it opens still counts.
    gasoline = consumption(fleet_api, manager, vehicle, period_from=day(2))["gasoline"]
    assert gasoline["measured_km"] == 900
    assert Decimal(gasoline["km_per_liter"]) == Decimal("10.0")
    gasoline = consumption(fleet_api, manager, vehicle, period_from=day(4))["gasoline"]
    assert gasoline["measured_km"] == 400


def test_a_driver_logs_a_fill_with_its_odometer_reading(fleet_api, driver_user, vehicle):
    body = fill(vehicle_id=vehicle.id, station="Posto Ipiranga", filled_at=rfc3339(day(1)))
    response = fleet_api.post(FUEL_LOGS, user=driver_user, json=body)
    assert response.status_code == 201, response.json
    log = response.json
    assert log["liters"] == "40.000"
    assert log["total_cost"] == "200.00"
    assert log["unit_price"] == "5.000"
    assert log["full_tank"] is True
    assert log["missed_previous"] is False
    assert log["station"] == "Posto Ipiranga"
    assert log["author_user_id"] == str(driver_user.id)

    readings = fleet_api.get(f"/api/v1/fleet/vehicles/{vehicle.id}/odometer", user=driver_user)
    assert [(r["id"], r["source"], r["km"]) for r in readings.json["items"]] == [
        (log["odometer_reading_id"], "fuel", 10_000)
    ]
    assert fleet_api.get(f"{FUEL_LOGS}/{log['id']}", user=driver_user).json == log


def test_a_fill_must_fit_the_odometer_ledger(fleet_api, manager, vehicle):
    assert (
        fleet_api.post(FUEL_LOGS, user=manager, json=fill(vehicle_id=vehicle.id)).status_code == 201
    )
    below = fleet_api.post(
        FUEL_LOGS, user=manager, json=fill(vehicle_id=vehicle.id, odometer_km=9_000)
    )
    assert below.status_code == 409
    assert below.json["error"]["code"] == "odometer_not_monotonic"
    assert len(fleet_api.get(FUEL_LOGS, user=manager).json["items"]) == 1


@pytest.mark.parametrize(
    ("unit_price", "total_cost", "accepted"),
    [("5.499", "219.96", True), ("5.499", "219.97", True), ("5.499", "219.98", False)],
)
def test_a_unit_price_must_agree_with_the_total_within_a_cent(
    fleet_api, manager, vehicle, unit_price, total_cost, accepted
):
    body = fill(vehicle_id=vehicle.id, unit_price=unit_price, total_cost=total_cost)
    response = fleet_api.post(FUEL_LOGS, user=manager, json=body)
    if accepted:
        assert response.status_code == 201, response.json
        # Always derived from the total, whatever price was sent.
        assert response.json["unit_price"] == str(
            (Decimal(total_cost) / 40).quantize(Decimal("0.001"))
        )
    else:
        assert response.status_code == 422
        assert "unit_price" in response.json["error"]["details"]


def test_more_litres_than_the_tank_holds_are_422(fleet_api, manager, vehicle):
    response = fleet_api.post(
        FUEL_LOGS, user=manager, json=fill(vehicle_id=vehicle.id, liters="50.001")
    )
    assert response.status_code == 422
    assert "liters" in response.json["error"]["details"]
    full = fleet_api.post(FUEL_LOGS, user=manager, json=fill(vehicle_id=vehicle.id, liters="50"))
    assert full.status_code == 201


def test_the_fuel_must_be_one_the_vehicle_takes(fleet_api, manager, vehicle):
    response = fleet_api.post(
        FUEL_LOGS, user=manager, json=fill(vehicle_id=vehicle.id, fuel_type="diesel")
    )
    assert response.status_code == 422
    assert response.json["error"]["details"]["fuel_type"] == ["the vehicle takes ethanol, gasoline"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"liters": "0"}, "liters"),
        ({"liters": "-5"}, "liters"),
        ({"liters": "NaN"}, "liters"),
        ({"liters": "1e999999"}, "liters"),
        ({"total_cost": "-0.01"}, "total_cost"),
        ({"total_cost": "Infinity"}, "total_cost"),
        ({"total_cost": "12345678901.00"}, "total_cost"),
        ({"unit_price": "abc"}, "unit_price"),
        ({"fuel_type": "kerosene"}, "fuel_type"),
        ({"odometer_km": "10000"}, "odometer_km"),
        ({"odometer_km": 10**12}, "odometer_km"),
        ({"full_tank": None}, "full_tank"),
        ({"station": "posto\x00"}, "station"),
        ({"filled_at": "2026-01-01T10:00:00"}, "filled_at"),
        ({"receipt_media_id": "not-a-uuid"}, "receipt_media_id"),
    ],
)
def test_bad_fills_are_422_naming_the_field(fleet_api, manager, vehicle, change, field):
    response = fleet_api.post(
        FUEL_LOGS, user=manager, json={**fill(vehicle_id=vehicle.id), **change}
    )
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]


def test_a_fill_in_the_future_is_422(fleet_api, manager, vehicle):
    later = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    response = fleet_api.post(
        FUEL_LOGS, user=manager, json=fill(vehicle_id=vehicle.id, filled_at=later)
    )
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"filled_at": ["must not be in the future"]}


def test_a_driver_logs_fuel_only_for_a_vehicle_assigned_to_them(
    fleet_api, db_session, manager, driver_user, vehicle
):
    other = make_vehicle(db_session)
    refused = fleet_api.post(FUEL_LOGS, user=driver_user, json=fill(vehicle_id=other.id))
    assert refused.status_code == 422
    assert refused.json["error"]["details"] == {"vehicle_id": ["no such vehicle"]}
    unknown = fleet_api.post(FUEL_LOGS, user=driver_user, json=fill(vehicle_id=uuid.uuid4()))
    assert unknown.json["error"]["details"] == {"vehicle_id": ["no such vehicle"]}


def test_a_driver_sees_only_their_own_fills(fleet_api, db_session, manager, driver_user, vehicle):
    own = fleet_api.post(FUEL_LOGS, user=driver_user, json=fill(vehicle_id=vehicle.id)).json
    theirs = make_fuel_log(
        db_session, vehicle=make_vehicle(db_session), km=500, liters="30", filled_at=day(1)
    )

    assert [f["id"] for f in fleet_api.get(FUEL_LOGS, user=driver_user).json["items"]] == [
        own["id"]
    ]
    hidden = fleet_api.get(f"{FUEL_LOGS}/{theirs.id}", user=driver_user)
    assert hidden.status_code == 404
    assert hidden.json["error"]["code"] == "fuel_log_not_found"
    assert len(fleet_api.get(FUEL_LOGS, user=manager).json["items"]) == 2


def test_a_retired_vehicle_takes_no_fills(fleet_api, db_session, manager):
    vehicle = make_vehicle(db_session)
    fleet_api.delete(f"/api/v1/fleet/vehicles/{vehicle.id}", user=manager)
    response = fleet_api.post(FUEL_LOGS, user=manager, json=fill(vehicle_id=vehicle.id))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "vehicle_retired"


def test_the_receipt_must_be_the_drivers_own_upload(
    fleet_api, db_session, upload_photo, manager, driver_user, vehicle
):
    someone_else = make_user(db_session, role="driver")
    for receipt in (upload_photo(someone_else), str(uuid.uuid4())):
        body = fill(vehicle_id=vehicle.id, receipt_media_id=receipt)
        response = fleet_api.post(FUEL_LOGS, user=driver_user, json=body)
        assert response.status_code == 422
        assert response.json["error"]["details"] == {
            "receipt_media_id": [f"no such file: {receipt}"]
        }

    own = upload_photo(driver_user)
    body = fill(vehicle_id=vehicle.id, receipt_media_id=own)
    response = fleet_api.post(FUEL_LOGS, user=driver_user, json=body)
    assert response.status_code == 201
    assert response.json["receipt_media_id"] == own


def test_a_manager_may_attach_anyones_receipt(
    fleet_api, upload_photo, manager, driver_user, vehicle
):
    receipt = upload_photo(driver_user)
    body = fill(vehicle_id=vehicle.id, receipt_media_id=receipt)
    assert fleet_api.post(FUEL_LOGS, user=manager, json=body).status_code == 201


def test_fills_list_by_vehicle_fuel_and_time_and_as_csv(fleet_api, db_session, manager, vehicle):
    logs = [
        make_fuel_log(db_session, vehicle=vehicle, km=10_000, liters="40", filled_at=day(1)),
        make_fuel_log(
            db_session,
            vehicle=vehicle,
            km=10_400,
            liters="35.5",
            filled_at=day(2),
            fuel_type="ethanol",
            station='=HYPERLINK("http://evil")',
        ),
        make_fuel_log(db_session, vehicle=vehicle, km=10_800, liters="20", filled_at=day(3)),
    ]
    make_fuel_log(db_session, vehicle=make_vehicle(db_session), km=1, liters="1", filled_at=day(1))

    def ids(**query):
        response = fleet_api.get(
            FUEL_LOGS, user=manager, query_string={"vehicle_id": vehicle.id, **query}
        )
        assert response.status_code == 200, response.json
        return [log["id"] for log in response.json["items"]]

    assert ids() == [str(log.id) for log in reversed(logs)]
    assert ids(fuel_type="ethanol") == [str(logs[1].id)]
    assert ids(**{"from": rfc3339(day(2)), "to": rfc3339(day(3))}) == [str(logs[1].id)]

    query = {"vehicle_id": vehicle.id, "limit": 2}
    page = fleet_api.get(FUEL_LOGS, user=manager, query_string=query).json
    exported = fleet_api.get(FUEL_LOGS, user=manager, query_string={**query, "format": "csv"})
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    assert exported.headers["X-Next-Cursor"] == page["next_cursor"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [row["id"] for row in rows] == [item["id"] for item in page["items"]]
    assert [row["liters"] for row in rows] == ["20.000", "35.500"]
    assert rows[0]["full_tank"] == "true"
    assert rows[0]["station"] == ""
    # Text a spreadsheet would run as a formula is defused.
    assert rows[1]["station"] == '\'=HYPERLINK("http://evil")'
