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
    "/api/v1/fleet/fuel-logs": {"get", "post"},
    "/api/v1/fleet/maintenance/schedules": {"get", "post"},
    "/api/v1/fleet/maintenance/records": {"get", "post"},
    "/api/v1/fleet/inspections": {"get", "post"},
    "/api/v1/fleet/inspections/{inspection_id}/resolve": {"post"},
    "/api/v1/fleet/documents": {"get", "post"},
    "/api/v1/fleet/alerts": {"get"},
    "/api/v1/fleet/reports/vehicles/{vehicle_id}": {"get"},
    "/api/v1/fleet/reports/fleet": {"get"},
    "/api/v1/fleet/reports/fleet/monthly": {"get"},
    "/api/v1/fleet/vehicles/{vehicle_id}/overview": {"get"},
}
# Lists and reports that also answer ?format=csv.
CSV_PATHS = (
    "/api/v1/fleet/vehicles",
    "/api/v1/fleet/trips",
    "/api/v1/fleet/fuel-logs",
    "/api/v1/fleet/maintenance/records",
    "/api/v1/fleet/reports/vehicles/{vehicle_id}",
    "/api/v1/fleet/reports/fleet",
    "/api/v1/fleet/reports/fleet/monthly",
)


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


def test_lists_and_reports_document_their_csv_format(spec):
    for path in CSV_PATHS:
        parameters = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert parameters["format"]["schema"]["enum"] == ["json", "csv"], path


def test_the_fuel_log_fields_of_the_contract_are_documented(spec):
    fields = set(spec["components"]["schemas"]["FuelLogCreateIn"]["properties"])
    assert {
        "vehicle_id",
        "filled_at",
        "odometer_km",
        "fuel_type",
        "liters",
        "total_cost",
        "full_tank",
        "missed_previous",
        "station",
        "receipt_media_id",
    } <= fields
