from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.fleet.test_reports import REPORTS, counting_queries, parse_csv, parse_time, period
from tests.support.factories import make_fuel_log, make_maintenance_record, make_user, make_vehicle

MONTHLY = f"{REPORTS}/fleet/monthly"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ZEROS = {
    "km_driven": 0,
    "liters": "0.000",
    "fuel_cost": "0.00",
    "maintenance_cost": "0.00",
    "total_cost": "0.00",
    "cost_per_km": None,
    "fuel_types": [],
}


def monthly(fleet_api, manager, **query):
    response = fleet_api.get(MONTHLY, user=manager, query_string=query)
    assert response.status_code == 200, response.json
    return response.json["months"]


def fleet_totals(fleet_api, manager, start, end):
    response = fleet_api.get(f"{REPORTS}/fleet", user=manager, query_string=period(start, end))
    assert response.status_code == 200, response.json
    return response.json["totals"]


def figures_of(month):
    return {k: v for k, v in month.items() if k not in ("month", "from", "to")}


def spans(months):
    return [(parse_time(m["from"]), parse_time(m["to"])) for m in months]


def test_each_month_is_the_fleet_reports_totals_for_it_and_the_months_add_up(
    fleet_api, db_session, manager
):
    now = datetime.now(UTC)
    shape = monthly(fleet_api, manager, months=5)
    (m0, _), _, (m2, _), (m3, _), (m4, _) = spans(shape)
    a, b = make_vehicle(db_session), make_vehicle(db_session)
    # Before the span: the odometer at its start.
    make_fuel_log(db_session, vehicle=a, km=10_000, liters="40", filled_at=m0 - timedelta(days=3))
    # At the first month's very start (in it): a full-tank interval of 400 km on 20 L.
    make_fuel_log(db_session, vehicle=a, km=10_400, liters="20", filled_at=m0)
    make_maintenance_record(
        db_session, vehicle=a, km=10_500, performed_at=m0 + timedelta(days=1), cost="100.00"
    )
    # Nothing at all in the second month. On the 1st of the fourth month at 02:00 UTC it
    # is still the third in São Paulo: a change of fuel (a mixed tank, not measured).
    make_fuel_log(
        db_session,
        vehicle=a,
        km=10_800,
        liters="30",
        fuel_type="ethanol",
        filled_at=m3 - timedelta(hours=1),
    )
    # A vehicle first read in the third month: its km count from that reading.
    make_fuel_log(
        db_session,
        vehicle=b,
        km=5_000,
        liters="10",
        full_tank=False,
        filled_at=m2 + timedelta(days=1),
    )
    make_fuel_log(db_session, vehicle=b, km=5_250, liters="25", filled_at=m2 + timedelta(days=2))
    # 300 km on 30 L of ethanol, then a partial fill in the current month.
    make_fuel_log(
        db_session,
        vehicle=a,
        km=11_100,
        liters="30",
        fuel_type="ethanol",
        total_cost="120.00",
        filled_at=m3 + timedelta(days=2),
    )
    make_fuel_log(
        db_session,
        vehicle=a,
        km=11_200,
        liters="10",
        full_tank=False,
        filled_at=m4 + (now - m4) / 2,
    )

    months = monthly(fleet_api, manager, months=5)
    assert [m["km_driven"] for m in months] == [500, 0, 550, 300, 100]
    assert figures_of(months[1]) == ZEROS
    assert months[0]["fuel_types"] == [
        {
            "fuel_type": "gasoline",
            "liters": "20.000",
            "fuel_cost": "100.00",
            "fills": 1,
            "measured_km": 400,
            "measured_liters": "20.000",
            "km_per_liter": "20.00",
        }
    ]
    assert (months[0]["maintenance_cost"], months[0]["cost_per_km"]) == ("100.00", "0.400")
    ethanol = {f["fuel_type"]: f for f in months[3]["fuel_types"]}["ethanol"]
    assert (ethanol["km_per_liter"], ethanol["measured_km"]) == ("10.00", 300)
    # Each month is what the fleet report says of it, to the last figure of each fuel.
    for month, (start, end) in zip(months, spans(months), strict=True):
        assert figures_of(month) == fleet_totals(fleet_api, manager, start, end), month["month"]
    # Consecutive months add up to the fleet report over the whole span.
    whole = fleet_totals(fleet_api, manager, spans(months)[0][0], spans(months)[-1][1])
    assert sum(m["km_driven"] for m in months) == whole["km_driven"] == 1450


def test_months_are_calendar_months_of_sao_paulo_up_to_the_current_one(fleet_api, manager):
    months = monthly(fleet_api, manager)
    assert len(months) == 6
    today = datetime.now(SAO_PAULO)
    assert months[-1]["month"] == f"{today.year:04d}-{today.month:02d}"
    for month, (start, end) in zip(months, spans(months), strict=True):
        local = start.astimezone(SAO_PAULO)
        assert (local.day, local.hour, local.minute) == (1, 0, 0)
        assert month["month"] == f"{local.year:04d}-{local.month:02d}"
        assert end.astimezone(SAO_PAULO).day == 1
        assert end - start >= timedelta(days=28)
        assert figures_of(month) == ZEROS
    assert all(a["to"] == b["from"] for a, b in itertools.pairwise(months))
    assert len(monthly(fleet_api, manager, months=24)) == 24
    assert len(monthly(fleet_api, manager, months=1)) == 1


def test_months_out_of_range_are_refused_and_drivers_may_not_ask(fleet_api, db_session, manager):
    for months in (0, 25, "six"):
        response = fleet_api.get(MONTHLY, user=manager, query_string={"months": months})
        assert response.status_code == 422, months
        assert "months" in response.json["error"]["details"]
    driver = make_user(db_session, role="driver")
    assert fleet_api.get(MONTHLY, user=driver).status_code == 403


def test_a_vehicle_retired_before_a_month_is_left_out_of_it_as_the_fleet_report_does(
    fleet_api, db_session, manager
):
    (m0, _), (m1, end) = spans(monthly(fleet_api, manager, months=2))
    vehicle = make_vehicle(db_session)
    make_fuel_log(db_session, vehicle=vehicle, km=1_000, liters="10", filled_at=m0)
    make_fuel_log(
        db_session, vehicle=vehicle, km=1_300, liters="10", filled_at=m0 + timedelta(days=1)
    )
    make_fuel_log(db_session, vehicle=vehicle, km=1_500, liters="10", filled_at=m1)
    # Retired (as far as the reports know) before its fill of the second month.
    vehicle.retired_at = m1 - timedelta(days=1)
    db_session.flush()
    months = monthly(fleet_api, manager, months=2)
    assert [m["km_driven"] for m in months] == [300, 0]
    assert figures_of(months[1]) == ZEROS == figures_of(fleet_totals(fleet_api, manager, m1, end))


def test_the_monthly_report_takes_the_same_few_queries_for_any_months_and_has_a_csv(
    fleet_api, engine, db_session, manager
):
    vehicle = make_vehicle(db_session)
    (start, _), (_, end) = spans(monthly(fleet_api, manager, months=2))
    make_fuel_log(db_session, vehicle=vehicle, km=1_000, liters="10", filled_at=start)
    make_fuel_log(
        db_session, vehicle=vehicle, km=1_400, liters="20", filled_at=start + timedelta(days=1)
    )
    counts = []
    for months in (2, 24):
        with counting_queries(engine) as statements:
            monthly(fleet_api, manager, months=months)
        counts.append(len(statements))
    # The cached closed months, then distance, fuel, consumption and maintenance of the rest.
    assert counts == [5, 5], counts

    rows = parse_csv(
        fleet_api.get(MONTHLY, user=manager, query_string={"months": 2, "format": "csv"})
    )
    json_months = monthly(fleet_api, manager, months=2)
    assert [row["month"] for row in rows] == [m["month"] for m in json_months]
    first = rows[0]
    assert (first["from"], first["to"]) == (json_months[0]["from"], json_months[0]["to"])
    assert (first["km_driven"], first["liters"], first["fuel_cost"]) == ("400", "30.000", "150.00")
    assert (first["gasoline_km_per_liter"], first["ethanol_liters"]) == ("20.00", "")
    assert parse_time(first["to"]) <= end
