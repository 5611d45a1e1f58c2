"""Hostile bodies, query strings and path parts on every route of every service: never a
5xx, and every error is the JSON error body.

hypothesis drives each service app in process (fast: thousands of requests in the
time budget), against the real PostgreSQL, reading the operations from the app's own
OpenAPI document. Values are chosen to break things below the schemas: lone
surrogates, NUL, integers of thousands of digits, floats that overflow, nesting deep
enough to recurse, wrong types, huge strings, forged cursors. Fixed seed and
derandomized: a failure reproduces; the total time is bounded.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from apiflask import APIFlask
from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import (
    make_assignment,
    make_document,
    make_driver,
    make_fuel_log,
    make_schedule,
    make_user,
    make_vehicle,
)
from tests.support.fuzzing import repeatable
from tests.support.identity import ApiClient

SEED = 20261201
EXAMPLES_PER_OPERATION = 40
# For the whole test (three services): past it, the remaining examples are skipped.
TIME_BUDGET_SECONDS = 45
METHODS = ("get", "post", "put", "patch", "delete")

# ---- hostile values ------------------------------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udbffb", "\udc00" * 3])
HOSTILE_TEXT = st.one_of(
    SURROGATES,
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\u202e\u2066admin",
            "admin\u200b",
            "\uff21\uff22\uff23\uff11\uff12\uff13\uff14",  # full-width ABC1234
            "'; DROP TABLE users; --",
            "%00%ff",
            "../../etc/passwd",
            "9" * 5000,
            "x" * 20_000,
            "2026-02-30T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "NaN",
            "-Infinity",
            "1e999999",
            "00000000-0000-0000-0000-000000000000",
        ]
    ),
    st.text(max_size=40),
)
HUGE_NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([2**31, 2**31 - 1, -(2**31) - 1, 2**63, -(2**63) - 1, 10**39]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), HUGE_NUMBERS, HOSTILE_TEXT)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(HOSTILE_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
# Documents that json.dumps cannot produce: written out as bytes.
RAW_BODIES = st.sampled_from(
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"n": ' + b"9" * 5000 + b"}",
        b'{"n": NaN, "m": Infinity}',
        b'{"n": 1e400}',
        b'{"s": "\xed\xa0\x80"}',
        b'{"s": "\xff"}',
        b"{",
        b"",
        b"null",
        b"[]",
        b'"\\ud800"',
    ]
)


def value_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly something of the declared type that breaks it; sometimes anything at all."""
    kind = schema.get("type")
    if kind == "string":
        typed: st.SearchStrategy[Any] = HOSTILE_TEXT
    elif kind in ("integer", "number"):
        typed = HUGE_NUMBERS
    elif kind == "array":
        typed = st.lists(value_for(schema.get("items", {})), max_size=5)
    else:
        typed = ANY_JSON
    return st.one_of(typed, typed, ANY_JSON)


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


class Body:
    """Request body bytes with a short repr (hypothesis prints the failing example)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Body({self.data[:120]!r}, {len(self.data)} bytes)"


def body_for(spec: dict[str, Any], operation: dict[str, Any]) -> st.SearchStrategy[Body]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = resolve(spec, content.get("application/json", {}).get("schema", {}))
    properties = schema.get("properties", {})
    documents = st.fixed_dictionaries(
        {}, optional={name: value_for(prop) for name, prop in properties.items()}
    )
    encoded = st.one_of(documents, ANY_JSON).map(lambda doc: json.dumps(doc).encode())
    return st.one_of(encoded, encoded, encoded, RAW_BODIES).map(Body)


def query_for(operation: dict[str, Any]) -> st.SearchStrategy[str]:
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    if not names:
        names = ["limit"]
    raw_values = st.one_of(
        HOSTILE_TEXT.map(lambda text: urllib.parse.quote(text, errors="surrogatepass")),
        st.sampled_from(["%ED%A0%80", "%00", "%FF%FE", "9" * 5000, "-1", "1e400", "true"]),
        st.sampled_from(["WyJcdWQ4MDAiXQ", "W1tbW1tbW1tbW1tb", "A" * 5000, "e30", "bnVsbA"]),
    )
    pairs = st.lists(st.tuples(st.sampled_from(names), raw_values), max_size=4)
    return pairs.map(lambda items: "&".join(f"{name}={value}" for name, value in items))


def path_for(template: str, ids: list[str]) -> st.SearchStrategy[str]:
    parts = template.split("/")
    choices = st.one_of(
        st.sampled_from(ids),
        st.sampled_from(["%ED%A0%80", "%00", "..", "x" * 300, "0", "-1", "%2F"]),
    )

    def fill(values: list[str]) -> str:
        it = iter(values)
        return "/".join(next(it) if p.startswith("{") else p for p in parts)

    holes = sum(p.startswith("{") for p in parts)
    return st.lists(choices, min_size=holes, max_size=holes).map(fill)


# ---- the test ---------------------------------------------------------------------------


@pytest.fixture
def known_ids(db_session) -> list[str]:
    """Ids of real rows of each kind, so that paths reach handlers past their 404s."""
    vehicle = make_vehicle(db_session)
    driver = make_driver(db_session)
    assignment = make_assignment(db_session, vehicle=vehicle, driver=driver)
    ids = [
        vehicle.id,
        driver.id,
        assignment.id,
        make_fuel_log(
            db_session, vehicle=vehicle, km=1000, liters="40.5", filled_at=datetime.now(UTC)
        ).id,
        make_schedule(db_session, vehicle=vehicle, every_km=10_000).id,
        make_document(db_session, vehicle=vehicle, valid_until=date(2030, 1, 1)).id,
        make_user(db_session, role="manager").id,
        uuid.uuid4(),
    ]
    return [str(i) for i in ids]


def spec_of(api: ApiClient) -> dict[str, Any]:
    """The service's OpenAPI document (every service app is an APIFlask)."""
    assert isinstance(api.app, APIFlask)
    spec = api.app.spec
    assert isinstance(spec, dict)  # text only when SPEC_FORMAT is YAML
    return spec


def operations(api: ApiClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = spec_of(api)
    return [
        (method, path, operation)
        for path, item in sorted(spec["paths"].items())
        for method, operation in item.items()
        if method in METHODS
    ]


class Budget:
    """Requests sent, and the moment after which the remaining examples are skipped."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.sent = 0

    def exhausted(self) -> bool:
        return time.monotonic() > self.deadline


def explore_operation(
    api: ApiClient,
    method: str,
    path: str,
    operation: dict[str, Any],
    *,
    ids: list[str],
    admin_id: str,
    budget: Budget,
) -> None:
    """Send hostile requests to one operation; AssertionError names the first bad answer."""

    @repeatable(SEED, EXAMPLES_PER_OPERATION)
    @given(
        url=path_for(path, ids),
        query=query_for(operation),
        body=body_for(spec_of(api), operation),
        role=st.sampled_from(["admin", "manager", "driver"]),
    )
    def explore(url: str, query: str, body: Body, role: str) -> None:
        if budget.exhausted():
            return
        kwargs: dict[str, Any] = {}
        if method != "get":
            kwargs = {"data": body.data, "content_type": "application/json"}
        user = admin_id if role == "admin" else str(uuid.uuid4())
        response = api.call(method.upper(), f"{url}?{query}", user=user, role=role, **kwargs)
        budget.sent += 1
        answer = (
            f"{method.upper()} {url}?{query[:200]} body={body!r} "
            f"-> {response.status_code} {response.data[:300]!r}"
        )
        assert response.status_code < 500, answer
        assert response.status_code < 400 or response.mimetype == "application/json", answer

    explore()


def test_no_hostile_input_makes_a_5xx_or_a_non_json_error(
    auth_api, fleet_api, media_api, known_ids, db_session
):
    admin = make_user(db_session, role="admin")
    budget = Budget(TIME_BUDGET_SECONDS)
    failures: list[str] = []

    for api in (auth_api, fleet_api, media_api):
        for method, path, operation in operations(api):
            try:
                explore_operation(
                    api,
                    method,
                    path,
                    operation,
                    ids=known_ids,
                    admin_id=str(admin.id),
                    budget=budget,
                )
            except AssertionError as exc:
                failures.append(str(exc).split("\n")[0])

    assert budget.sent >= 1000, f"only {budget.sent} requests in the time budget"
    assert not failures, "\n".join(failures)
