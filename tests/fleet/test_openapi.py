from __future__ import annotations

import pytest

PATHS = {
    "/api/v1/fleet/vehicles": {"get", "post"},
    "/api/v1/fleet/vehicles/{vehicle_id}": {"get", "patch", "delete"},
    "/api/v1/fleet/vehicles/{vehicle_id}/odometer": {"get", "post"},
    "/api/v1/fleet/odometer-readings/{reading_id}/void": {"post"},
    "/api/v1/fleet/drivers": {"get", "post"},
    "/api/v1/fleet/drivers/{driver_id}": {"get", "patch"},
    "/api/v1/fleet/assignments": {"get", "post"},
    "/api/v1/fleet/assignments/{assignment_id}/end": {"post"},
    "/api/v1/fleet/trips": {"get", "post"},
    "/api/v1/fleet/trips/{trip_id}/check-in": {"post"},
}


@pytest.fixture
def spec(fleet_api, manager):
    response = fleet_api.get("/openapi.json", user=manager)
    assert response.status_code == 200
    return response.json


def test_the_document_describes_every_route_of_the_contract(spec):
    for path, methods in PATHS.items():
        assert methods <= set(spec["paths"][path]), path


def test_trip_listing_documents_its_time_window_as_from_and_to(spec):
    parameters = spec["paths"]["/api/v1/fleet/trips"]["get"]["parameters"]
    assert {"from", "to", "vehicle_id", "driver_id"} <= {p["name"] for p in parameters}
