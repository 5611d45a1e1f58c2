"""Every response that is not a success has one JSON shape, whatever raised it."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from apiflask import APIFlask, Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length, Range
from flask import Flask, g, request
from gunicorn.http.errors import InvalidChunkSize
from sqlalchemy import exc as sa_exc

from shared.errors import APIError, Conflict, error_response, register_error_handlers
from tests.support.errors import error_of

SECRET_DETAIL = "password=hunter2 at db.internal:5432"


class VehicleIn(Schema):
    plate = String(required=True, validate=Length(min=7, max=7))
    year = Integer(required=True, validate=Range(1950, 2100))


class ListQuery(Schema):
    limit = Integer(validate=Range(1, 200))


def build_app(kind: str) -> Flask:
    app = APIFlask(__name__) if kind == "apiflask" else Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    register_error_handlers(app)

    @app.before_request
    def set_request_id() -> None:
        g.request_id = request.headers.get("X-Request-ID")

    @app.route("/things", methods=["GET", "POST"])
    def things():
        return {"size": len(request.get_data())}

    @app.get("/boom")
    def boom():
        raise RuntimeError(SECRET_DETAIL)

    @app.get("/conflict")
    def conflict():
        raise APIError(
            409,
            "plate_taken",
            "That plate is already registered",
            details={"plate": "ABC1234", "vehicle_id": "v-1"},
            headers={"Retry-After": "5", "X-Extra": "yes"},
        )

    @app.get("/plain-api-error")
    def plain_api_error():
        raise APIError(404)

    @app.get("/unauthorized")
    def unauthorized():
        raise APIError(401, "token_expired", "The token has expired")

    @app.get("/custom-challenge")
    def custom_challenge():
        raise APIError(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    @app.get("/database-down")
    def database_down():
        raise sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    @app.get("/returned")
    def returned():
        return error_response(429, message="Slow down", headers={"Retry-After": "30"})

    return app


@pytest.fixture(params=["flask", "apiflask"])
def client(request):
    return build_app(request.param).test_client()


@pytest.fixture
def apiflask_client():
    app = build_app("apiflask")

    @app.post("/vehicles")
    @app.input(VehicleIn)
    def create_vehicle(json_data):
        return json_data

    @app.get("/vehicles")
    @app.input(ListQuery, location="query")
    def list_vehicles(query_data):
        return query_data

    return app.test_client()


def test_an_unknown_route_is_404_not_found(client):
    error = error_of(client.get("/no/such/thing"), 404, "not_found")

    assert error["message"] == "No such resource"
    assert error["details"] == {}


def test_the_error_carries_the_request_id(client):
    response = client.get("/no/such/thing", headers={"X-Request-ID": "req-0123456789"})

    assert error_of(response, 404, "not_found")["request_id"] == "req-0123456789"


def test_a_wrong_method_is_405_with_the_allowed_methods(client):
    response = client.delete("/things")

    error_of(response, 405, "method_not_allowed")
    assert sorted(response.headers["Allow"].replace(" ", "").split(",")) == [
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    ]


def test_a_body_above_the_limit_is_413_payload_too_large(client):
    error_of(client.post("/things", data=b"x" * 2048), 413, "payload_too_large")


def test_an_unhandled_exception_is_500_without_internals(client, caplog):
    with caplog.at_level(logging.ERROR, logger="frota.errors"):
        response = client.get("/boom")

    error = error_of(response, 500, "internal_error")
    assert error["message"] == "Internal server error"
    text = response.get_data(as_text=True)
    for leak in (SECRET_DETAIL, "hunter2", "RuntimeError", "Traceback", "boom", ".py"):
        assert leak not in text


def test_an_unhandled_exception_is_logged_with_its_traceback(client, caplog):
    with caplog.at_level(logging.ERROR, logger="frota.errors"):
        client.get("/boom")

    records = [r for r in caplog.records if r.name == "frota.errors"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert SECRET_DETAIL in caplog.text
    assert "Traceback" in caplog.text


def test_an_api_error_passes_its_code_message_details_and_headers(client):
    response = client.get("/conflict")

    error = error_of(response, 409, "plate_taken")
    assert error["message"] == "That plate is already registered"
    assert error["details"] == {"plate": "ABC1234", "vehicle_id": "v-1"}
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Extra"] == "yes"


def test_an_api_error_without_code_or_message_gets_them_from_the_status(client):
    error = error_of(client.get("/plain-api-error"), 404, "not_found")

    assert error["message"] == "Not found"


def test_a_401_always_carries_a_bearer_challenge(client):
    response = client.get("/unauthorized")

    error_of(response, 401, "token_expired")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_401_keeps_a_challenge_given_by_the_raiser(client):
    response = client.get("/custom-challenge")

    error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_error_response_builds_the_same_shape_outside_a_handler(client):
    response = client.get("/returned")

    error = error_of(response, 429, "rate_limited")
    assert error["message"] == "Slow down"
    assert response.headers["Retry-After"] == "30"


def test_api_error_defaults_for_unknown_statuses():
    error = APIError(418)

    assert (error.code, error.message, error.details, error.headers) == ("error", "Error", {}, {})


# --- APIFlask validation --------------------------------------------------------------


def test_invalid_fields_are_422_validation_error_naming_each_field(apiflask_client):
    response = apiflask_client.post("/vehicles", json={"plate": "AB", "year": "new"})

    error = error_of(response, 422, "validation_error")
    assert set(error["details"]) == {"plate", "year"}
    assert error["details"]["year"] == ["Not a valid integer."]
    assert all(isinstance(messages, list) and messages for messages in error["details"].values())


def test_missing_fields_are_422_naming_each_missing_field(apiflask_client):
    error = error_of(apiflask_client.post("/vehicles", json={}), 422, "validation_error")

    assert error["details"] == {
        "plate": ["Missing data for required field."],
        "year": ["Missing data for required field."],
    }


def test_unknown_fields_are_422_naming_the_field(apiflask_client):
    response = apiflask_client.post(
        "/vehicles", json={"plate": "ABC1234", "year": 2020, "owner": "x"}
    )

    assert set(error_of(response, 422, "validation_error")["details"]) == {"owner"}


def test_invalid_query_parameters_are_422_naming_the_parameter(apiflask_client):
    error = error_of(apiflask_client.get("/vehicles?limit=500"), 422, "validation_error")

    assert set(error["details"]) == {"limit"}


def test_valid_input_passes_validation(apiflask_client):
    response = apiflask_client.post("/vehicles", json={"plate": "ABC1234", "year": 2020})

    assert response.status_code == 200
    assert response.get_json() == {"plate": "ABC1234", "year": 2020}


def test_malformed_json_is_a_400_in_the_error_shape(apiflask_client):
    response = apiflask_client.post("/vehicles", data="{not json", content_type="application/json")

    error_of(response, 400, "bad_request")
    assert "not json" not in response.get_data(as_text=True)


def test_a_database_outage_is_503_database_unavailable_with_retry_after(client):
    response = client.get("/database-down")
    body = error_of(response, 503, "database_unavailable")
    assert "connection refused" not in str(body)
    assert response.headers["Retry-After"] == "5"


def test_a_value_the_database_cannot_hold_is_422_and_the_value_is_not_logged(engine, caplog):
    app = build_app("apiflask")

    @app.get("/too-big")
    def too_big():
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT CAST(:v AS smallint)"), {"v": "ana-silva-99999"})

    with caplog.at_level(logging.WARNING):
        response = app.test_client().get("/too-big")

    error_of(response, 422, "invalid_value")
    assert "ana-silva" not in response.get_data(as_text=True)
    assert "ana-silva" not in caplog.text
    assert "sqlstate=22P02" in caplog.text


def get_path(client, path: str):
    """GET ``path`` exactly as written (the test client would read ``//x`` as a host)."""
    return client.get(
        path, environ_overrides={"PATH_INFO": path}, headers={"Host": "fleet.internal:8002"}
    )


@pytest.mark.parametrize(
    "path", ["/fleet//vehicles", "/fleet/vehicles//", "/fleet///vehicles/", "//fleet//vehicles"]
)
def test_a_path_werkzeug_would_redirect_is_a_json_404_never_a_redirect(client, path):
    @client.application.get("/fleet/vehicles")
    def vehicles():
        return {"items": []}

    response = get_path(client, path)

    error_of(response, 404, "not_found")
    assert "Location" not in response.headers
    assert "internal" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/fleet/vehicles/", "//fleet/vehicles"])
def test_a_trailing_slash_or_leading_slashes_serve_the_route_rather_than_redirecting(client, path):
    # werkzeug reads leading slashes as one (request.path does too, so the
    # gateway's route table sees the same path the service's rules match).
    @client.application.get("/fleet/vehicles")
    def vehicles():
        return {"items": []}

    response = get_path(client, path)

    assert response.status_code == 200
    assert "Location" not in response.headers


def test_a_broken_body_framing_is_400_not_500(client):
    app = client.application

    @app.get("/broken-chunk")
    def broken_chunk():
        # What gunicorn's body reader raises on a malformed chunked body.
        raise InvalidChunkSize(b"zz")

    error_of(app.test_client().get("/broken-chunk"), 400, "malformed_body")


def app_refusing_a_duplicate(engine, conflicts) -> Flask:
    """An app whose one route writes the same email twice into a uniquely indexed table."""
    app = APIFlask(__name__)
    register_error_handlers(app, conflicts)

    @app.post("/people")
    def add_person():
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE TEMP TABLE people (email text)"))
            conn.execute(sa.text("CREATE UNIQUE INDEX uq_people_email ON people (email)"))
            insert = sa.text("INSERT INTO people (email) VALUES (:email)")
            conn.execute(insert, {"email": "rita.alves@example.com"})
            conn.execute(insert, {"email": "rita.alves@example.com"})

    return app


def test_a_mapped_constraint_answers_its_conflict_naming_the_field(engine):
    conflicts = {
        "uq_people_email": Conflict(
            "email_taken", "Someone has this email", field="email", detail="already registered"
        )
    }
    response = app_refusing_a_duplicate(engine, conflicts).test_client().post("/people")

    body = error_of(response, 409, "email_taken")
    assert body["message"] == "Someone has this email"
    assert body["details"] == {"email": ["already registered"]}
    assert "rita.alves" not in response.get_data(as_text=True)


def test_an_unmapped_constraint_is_a_logged_409_never_a_500(engine, caplog):
    with caplog.at_level(logging.WARNING):
        response = app_refusing_a_duplicate(engine, {}).test_client().post("/people")

    error_of(response, 409, "conflict")
    # Named, so that it gets a row in the table; the value it refused is not logged.
    assert "unmapped constraint" in caplog.text
    assert "constraint=uq_people_email" in caplog.text
    assert "rita.alves" not in caplog.text


# Rules no client input can break (the server numbers an inspection's items, and
# writes one delivery per webhook and event): a refusal would be our bug, answered
# as an unmapped 409 and logged.
KEPT_BY_THE_SERVER = {
    "uq_inspection_items_inspection_id_position",
    "uq_webhook_deliveries_webhook_id_event_id",
}


@pytest.mark.parametrize(
    ("models", "conflicts"),
    [
        ("auth_service.models", "auth_service.constraints"),
        ("fleet_service.models", "fleet_service.constraints"),
    ],
)
def test_every_unique_and_exclusion_rule_of_a_schema_has_its_conflict(models, conflicts):
    import importlib

    metadata = importlib.import_module(models).Base.metadata
    rules = {
        item.name
        for table in metadata.tables.values()
        for item in [*table.indexes, *table.constraints]
        if isinstance(item.name, str) and item.name.startswith(("uq_", "ex_"))
    }
    assert rules  # the scan sees the schema's rules
    assert rules - set(importlib.import_module(conflicts).CONFLICTS) - KEPT_BY_THE_SERVER == set()
