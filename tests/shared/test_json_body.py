"""Hostile JSON bodies are a 400 malformed_json at every service, never a 500."""

from __future__ import annotations

import time
import uuid

import pytest

from shared.errors import APIError
from shared.json_body import MAX_DEPTH, parse_json

HOSTILE_BODIES = {
    "lone high surrogate": b'{"username": "\\ud800", "password": "x"}',
    "lone low surrogate in a key": b'{"\\udfff": 1, "username": "a", "password": "x"}',
    "surrogate deep in a list": b'{"username": "a", "password": "x", "z": [["ok", "\\udbff"]]}',
    "integer of 5000 digits": b'{"username": "a", "password": "x", "n": ' + b"9" * 5000 + b"}",
    "integer of 50 digits": b'{"username": "a", "password": "x", "n": -' + b"9" * 50 + b"}",
    "array nested 100 000 deep": b"[" * 100_000 + b"]" * 100_000,
    "object nested 100 000 deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "nested just past the limit": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "NaN": b'{"username": "a", "password": NaN}',
    "Infinity": b'{"username": "a", "password": -Infinity}',
    "float overflowing to infinity": b'{"username": "a", "password": "x", "n": 1e400}',
    "invalid UTF-8": b'{"username": "\xff\xfe", "password": "x"}',
    "encoded surrogate (CESU-8)": b'{"username": "\xed\xa0\x80", "password": "x"}',
    "truncated": b'{"username": "a", "pass',
}


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_a_hostile_login_body_is_400_malformed_json(auth_api, body):
    response = auth_api.post("/api/v1/auth/login", data=body, content_type="application/json")

    assert response.status_code == 400, response.data[:300]
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json"
    assert error["request_id"]


@pytest.mark.parametrize(
    "body",
    [HOSTILE_BODIES["lone high surrogate"], HOSTILE_BODIES["integer of 5000 digits"]],
    ids=["surrogate", "huge integer"],
)
def test_a_hostile_body_to_a_write_of_each_service_is_400(fleet_api, media_api, body):
    admin = str(uuid.uuid4())
    for api, path in [
        (fleet_api, "/api/v1/fleet/vehicles"),
        (fleet_api, "/api/v1/fleet/drivers"),
        (media_api, f"/api/v1/media/files/{uuid.uuid4()}/hold"),
    ]:
        response = api.post(
            path, user=admin, role="admin", data=body, content_type="application/json"
        )
        assert response.status_code == 400, (path, response.data[:300])
        assert response.get_json()["error"]["code"] == "malformed_json"


def test_a_surrogate_in_a_valid_vehicle_is_refused_before_the_database(fleet_api):
    body = (
        b'{"plate": "ABC1D23", "make": "Fiat\\ud800", "model": "Strada", "year": 2023,'
        b' "fuel_types": ["gasoline"]}'
    )

    response = fleet_api.post(
        "/api/v1/fleet/vehicles",
        user=str(uuid.uuid4()),
        role="admin",
        data=body,
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "surrogate" in response.get_json()["error"]["message"]


def test_deep_nesting_is_refused_cheaply():
    body = b"[" * 100_000 + b"]" * 100_000
    started = time.perf_counter()

    with pytest.raises(APIError) as caught:
        parse_json(body)

    assert caught.value.code == "malformed_json"
    assert time.perf_counter() - started < 0.5


def test_what_the_api_sends_decodes_unchanged():
    body = (
        '{"plate": "ABC1D23", "name": "São Paulo 😀", "n": -12345678901234567890,'
        ' "litres": 41.5, "nested": [[{"a": null, "b": true}]], "escaped": "\\ud83d\\ude00"}'
    )

    assert parse_json(body.encode()) == {
        "plate": "ABC1D23",
        "name": "São Paulo 😀",
        "n": -12345678901234567890,
        "litres": 41.5,
        "nested": [[{"a": None, "b": True}]],
        "escaped": "😀",
    }


def test_nesting_up_to_the_limit_is_accepted():
    depth = MAX_DEPTH
    expected: list = []
    for _ in range(depth - 1):
        expected = [expected]
    assert parse_json(b"[" * depth + b"]" * depth) == expected


def test_an_escaped_backslash_before_u_is_not_a_surrogate():
    assert parse_json(b'{"path": "C:\\\\ud800"}') == {"path": "C:\\ud800"}


def test_an_empty_json_body_is_left_to_the_schema(auth_api):
    response = auth_api.post("/api/v1/auth/login", data=b"", content_type="application/json")

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"username=a&password=x", "application/x-www-form-urlencoded"),
        (b'{"username": "a", "password": "x"}', "text/plain"),
        (b'{"username": "a", "password": "x"}', None),
    ],
    ids=["form", "json as text", "no declared type"],
)
def test_a_body_not_declared_json_is_415_not_a_list_of_missing_fields(auth_api, body, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = auth_api.post("/api/v1/auth/login", data=body, headers=headers)

    assert response.status_code == 415, response.data[:300]
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert (content_type or "no declared type") in error["message"]


def test_a_write_with_no_body_at_all_is_read_as_an_empty_document(fleet_api):
    # A client ending an assignment or calling a write with nothing to send
    # declares no type: the schema, not the media type, answers.
    response = fleet_api.post("/api/v1/fleet/vehicles", user=str(uuid.uuid4()), role="admin")

    assert response.status_code == 422, response.data[:300]
