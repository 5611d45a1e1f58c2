"""The OpenAPI document tells the truth: each service's, generated from its code, and the
gateway's merge of them, which is committed as docs/openapi.json."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from gateway.openapi import GATEWAY_BODY_ERRORS, GATEWAY_ERRORS, merge_documents

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
# The only operations a client calls without an access token.
PUBLIC_OPERATIONS = {("post", "/api/v1/auth/login")}
REFRESH = ("post", "/api/v1/auth/refresh")


@pytest.fixture
def documents(auth_app, fleet_app, media_app) -> dict[str, dict[str, Any]]:
    documents = {}
    for name, app in (("auth", auth_app), ("fleet", fleet_app), ("media", media_app)):
        with app.app_context():
            documents[name] = app.spec
    return documents


@pytest.fixture
def merged(documents) -> dict[str, Any]:
    return merge_documents(documents)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_service_document_is_valid_and_the_merge_too(documents, merged):
    for document in documents.values():
        validate(document)
    validate(merged)
    assert set(merged["paths"]) == {p for d in documents.values() for p in d["paths"]}


def test_the_committed_document_is_the_one_the_code_makes(merged):
    """Every contract change shows in review as a change of docs/openapi.json.

    After changing the API: ``make openapi`` writes the document anew.
    """
    made = json.dumps(merged, indent=2, sort_keys=True) + "\n"
    if os.environ.get("FROTA_WRITE_OPENAPI") == "1":
        COMMITTED.write_text(made)
    assert COMMITTED.read_text() == made, "docs/openapi.json is stale: run `make openapi`"


def test_internal_and_probe_routes_are_not_documented(documents):
    for document in documents.values():
        assert all(p.startswith("/api/v1/") for p in document["paths"]), document["paths"]


def test_every_operation_has_a_readable_unique_operation_id_and_a_tag(merged):
    ids = [operation["operationId"] for _, _, operation in operations(merged)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)+", i) for i in ids), ids
    assert all(operation["tags"] for _, _, operation in operations(merged))
    by_route = {(m, p): o["operationId"] for m, p, o in operations(merged)}
    assert by_route["get", "/api/v1/fleet/vehicles"] == "vehicles_list"
    assert by_route["post", "/api/v1/fleet/vehicles"] == "vehicles_create"
    assert by_route["post", "/api/v1/fleet/trips/{trip_id}/check-in"] == "trips_check_in"
    assert by_route["post", "/api/v1/auth/login"] == "auth_login"
    assert by_route["get", "/api/v1/fleet/fuel-logs"] == "fuel_list_logs"
    assert by_route["get", "/api/v1/media/files/{file_id}/thumbnail"] == "media_get_thumbnail"


def test_every_operation_says_who_may_call_it(merged):
    # The merge states public operations as public: nothing is inherited.
    assert "security" not in merged
    for method, path, operation in operations(merged):
        if (method, path) in PUBLIC_OPERATIONS:
            assert operation["security"] == [], (method, path)
            continue
        expected = "refreshToken" if (method, path) == REFRESH else "bearerAuth"
        assert [list(s) for s in operation["security"]] == [[expected]], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert set(merged["components"]["securitySchemes"]) == {"bearerAuth", "refreshToken"}


def test_role_restricted_operations_name_their_roles(merged):
    paths = merged["paths"]
    assert paths["/api/v1/fleet/vehicles"]["post"]["security"] == [
        {"bearerAuth": ["admin", "manager"]}
    ]
    assert paths["/api/v1/fleet/vehicles"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/auth/users"]["post"]["security"] == [{"bearerAuth": ["admin"]}]


def test_each_operation_documents_the_statuses_its_shape_can_answer(merged):
    for method, path, operation in operations(merged):
        statuses = set(operation["responses"])
        parameters = operation.get("parameters", [])
        expected = {str(s) for s in GATEWAY_ERRORS}
        if any(p["in"] == "path" for p in parameters):
            expected.add("404")
        if any(p["in"] == "query" for p in parameters):
            expected.add("422")
        if any(p["name"] == "cursor" for p in parameters):
            expected.add("400")
        if method in {"post", "patch", "delete"}:
            expected.add("409")
        body = operation.get("requestBody")
        if body is not None:
            expected |= {str(s) for s in GATEWAY_BODY_ERRORS} | {"413", "422"}
            if "application/json" in body["content"]:
                expected |= {"400", "415"}
        assert expected <= statuses, (method, path, expected - statuses)


def test_every_error_answer_is_the_one_error_body(merged):
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
    for method, path, operation in operations(merged):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"] == error, (method, path, status)
            elif status in {"204", "304"}:
                assert "content" not in response, (method, path, status)


def test_a_body_is_required_where_its_schema_requires_a_field(merged):
    paths = merged["paths"]
    assert paths["/api/v1/fleet/vehicles"]["post"]["requestBody"]["required"] is True
    assert paths["/api/v1/media/files"]["post"]["requestBody"]["required"] is True
    # Nothing in these is required, so a client may send no body at all.
    assert paths["/api/v1/auth/logout"]["post"]["requestBody"]["required"] is False
    end = paths["/api/v1/fleet/assignments/{assignment_id}/end"]["post"]
    assert end["requestBody"]["required"] is False


def properties(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, schema in document["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            yield name, field, prop


def test_decimals_are_documented_as_the_strings_they_travel_as(merged):
    decimals = {(s, f) for s, f, p in properties(merged) if p.get("format") == "decimal"}
    assert {
        ("FuelLogOut", "liters"),
        ("FuelLogCreateIn", "total_cost"),
        ("VehicleOut", "tank_capacity_l"),
        ("ReportFiguresOut", "cost_per_km"),
        ("FuelTypeFiguresOut", "km_per_liter"),
    } <= decimals
    for schema, field, prop in properties(merged):
        assert "number" not in json.dumps(prop.get("type")), (schema, field, prop)
        if prop.get("format") == "decimal":
            assert prop["type"] in ("string", ["string", "null"]), (schema, field)
            assert prop["pattern"].startswith("^"), (schema, field)


def test_query_parameters_are_never_null(merged):
    for method, path, operation in operations(merged):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            assert "nullable" not in schema, (method, path, parameter)
            assert "null" not in json.dumps(schema.get("type")), (method, path, parameter)
            assert schema.get("default", "absent") is not None, (method, path, parameter)
            assert None not in schema.get("enum", []), (method, path, parameter)


def test_csv_and_binary_answers_have_their_media_types(merged):
    paths = merged["paths"]
    for method, path, operation in operations(merged):
        if any(p["name"] == "format" for p in operation.get("parameters", [])):
            assert "text/csv" in operation["responses"]["200"]["content"], (method, path)
    assert "text/csv" in paths["/api/v1/fleet/reports/fleet"]["get"]["responses"]["200"]["content"]
    content = paths["/api/v1/media/files/{file_id}/content"]["get"]["responses"]
    assert {"image/jpeg", "application/pdf"} <= set(content["200"]["content"])
    assert {"206", "304", "416"} <= set(content)
    thumbnail = paths["/api/v1/media/files/{file_id}/thumbnail"]["get"]["responses"]["200"]
    assert thumbnail["content"] == {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
    }


def test_rules_that_tie_fields_together_are_in_the_schemas(merged):
    schemas = merged["components"]["schemas"]

    def valid(schema: str, body: dict) -> bool:
        return OAS31Validator(schemas[schema]).is_valid(body)

    vehicle = {"vehicle_id": str(uuid.uuid4())}
    schedule = {**vehicle, "name": "Oil change"}
    assert not valid("ScheduleCreateIn", schedule)
    assert not valid("ScheduleCreateIn", {**schedule, "every_km": None})
    assert valid("ScheduleCreateIn", {**schedule, "every_km": 10000})
    assert valid("ScheduleCreateIn", {**schedule, "every_days": 180, "every_km": None})
    document = {"type": "crlv", "number": "123"}
    driver = {"driver_id": str(uuid.uuid4())}
    assert not valid("DocumentCreateIn", document)
    assert not valid("DocumentCreateIn", {**document, **vehicle, **driver})
    assert valid("DocumentCreateIn", {**document, **vehicle})
    assert valid("DocumentCreateIn", {**document, **driver, "vehicle_id": None})
    assert not valid("InspectionItemIn", {"item": "Brakes", "ok": False})
    assert valid("InspectionItemIn", {"item": "Brakes", "ok": False, "severity": "critical"})
    assert valid("InspectionItemIn", {"item": "Brakes", "ok": True})
    # No body-level anyOf/oneOf: generators would make the body a union of partial models.
    for name, schema in schemas.items():
        assert not {"anyOf", "oneOf"} & set(schema), name
