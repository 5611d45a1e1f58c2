"""GET /vehicles/{id}/overview: a vehicle's screen in one call, each part exactly the first
page its own list answers."""

from __future__ import annotations

from fleet_service.overview import LATEST

FLEET = "/api/v1/fleet"


def test_the_overview_is_the_vehicle_and_the_first_page_of_each_of_its_lists(
    fleet_api, manager, driver, vehicle
):
    def post(path, body):
        response = fleet_api.post(f"{FLEET}{path}", user=manager, json=body)
        assert response.status_code == 201, response.json
        return response.json

    vehicle_id = str(vehicle.id)
    trip = post(
        "/trips",
        {
            "vehicle_id": vehicle_id,
            "odometer_km": 10_000,
            "purpose": "rota",
            "driver_id": str(driver.id),
        },
    )
    fleet_api.post(
        f"{FLEET}/trips/{trip['id']}/check-in", user=manager, json={"odometer_km": 10_200}
    )
    post(
        "/fuel-logs",
        {
            "vehicle_id": vehicle_id,
            "odometer_km": 10_200,
            "fuel_type": vehicle.fuel_types[0],
            "liters": "30",
            "total_cost": "180",
            "full_tank": True,
        },
    )
    post("/maintenance/schedules", {"vehicle_id": vehicle_id, "name": "Óleo", "every_km": 10_000})
    post("/documents", {"vehicle_id": vehicle_id, "type": "crlv", "number": "123"})
    post("/inspections", {"vehicle_id": vehicle_id, "items": [{"item": "Pneus", "ok": True}]})

    overview = fleet_api.get(f"{FLEET}/vehicles/{vehicle_id}/overview", user=manager)

    assert overview.status_code == 200, overview.json
    parts = overview.json

    def listed(path, limit):
        response = fleet_api.get(
            f"{FLEET}{path}", user=manager, query_string={"vehicle_id": vehicle_id, "limit": limit}
        )
        return response.json["items"]

    assert parts["vehicle"] == fleet_api.get(f"{FLEET}/vehicles/{vehicle_id}", user=manager).json
    assert (
        parts["odometer"]
        == fleet_api.get(
            f"{FLEET}/vehicles/{vehicle_id}/odometer",
            user=manager,
            query_string={"limit": LATEST["odometer"]},
        ).json["items"]
    )
    assert [r["km"] for r in parts["odometer"]] == [10_200, 10_200, 10_000]
    assert parts["trips"] == listed("/trips", LATEST["trips"])
    assert parts["fuel_logs"] == listed("/fuel-logs", LATEST["fuel_logs"])
    assert parts["schedules"] == listed("/maintenance/schedules", 100)
    assert parts["documents"] == listed("/documents", 100)
    assert parts["inspections"] == listed("/inspections", LATEST["inspections"])
    assert [len(parts[k]) for k in ("trips", "fuel_logs", "schedules", "documents")] == [1] * 4
    report = parts["report"]
    assert report["vehicle"]["km_driven"] == 200
    assert report["vehicle"]["fuel_cost"] == "180.00"


def test_the_overview_is_for_managers_and_an_unknown_vehicle_is_404(
    fleet_api, manager, driver_user, vehicle
):
    hidden = fleet_api.get(f"{FLEET}/vehicles/{vehicle.id}/overview", user=driver_user)
    assert hidden.status_code == 403
    missing = fleet_api.get(
        f"{FLEET}/vehicles/00000000-0000-4000-8000-000000000000/overview", user=manager
    )
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "vehicle_not_found"
