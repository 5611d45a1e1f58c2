"""Schemathesis against the merged OpenAPI document, through the gateway: whatever it
sends, no 5xx, and every response matches the schema documented for its status. Then
hostile bodies and query strings on every operation: JSON 4xx, never a 5xx.

Each operation is explored with a fixed seed and a bounded number of examples, so a
run is repeatable and takes a known time.
"""

from __future__ import annotations

import re
import uuid

import requests
import schemathesis
from hypothesis import given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.helpers import admin_token, bearer
from tests.support.fuzzing import repeatable

# Routes that would end the fuzzer's own session.
SESSION_ENDING = r"^/api/v1/auth/(logout|me/password)$"
EXAMPLES_PER_OPERATION = 8
SEED = 20261129


def test_no_server_errors_and_responses_match_their_schema(e2e_stack):
    with requests.Session() as http:
        headers = bearer(admin_token(http, e2e_stack))
    schema = schemathesis.openapi.from_url(f"{e2e_stack.url}/api/v1/openapi.json")
    schema = schema.exclude(path_regex=SESSION_ENDING)
    failures: list[str] = []
    explored = 0
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        explored += 1

        @repeatable(SEED, EXAMPLES_PER_OPERATION)
        @given(case=operation.as_strategy())
        def explore(case):
            response = case.call_and_validate(
                base_url=e2e_stack.url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
            )
            statuses.append(response.status_code)

        try:
            explore()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert explored >= 30
    # Authenticated and reaching the handlers, not bouncing off the gateway.
    assert sum(200 <= status < 300 for status in statuses) >= 50
    assert not failures, "\n\n".join(failures)


# Bodies and query values that break things below the schemas (tests/security fuzzes
# each service in process; this sends the worst of them through the real gateway).
HOSTILE_BODIES = [
    b'{"username": "\\ud800", "plate": "\\udfff", "name": "a\\udbffb", "full_name": "\\ud800"}',
    b'{"year": ' + b"9" * 5000 + b', "km": 1e400, "odometer_km": NaN}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"s": "\xed\xa0\x80"}',
    b"\xff\xfe{}",
]
HOSTILE_QUERIES = [
    "cursor=%ED%A0%80",
    "cursor=WyJcdWQ4MDAiLCAiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIl0",
    "cursor=" + "W1tb" * 500,
    "limit=" + "9" * 5000,
    "q=%00&status=%00&vehicle_id=%00",
    "since=0001-01-01T00:00:00%2B14:00&until=9999-12-31T23:59:59-14:00",
]


def test_hostile_bodies_and_queries_through_the_gateway_are_json_4xx(e2e_stack):
    with requests.Session() as http:
        headers = bearer(admin_token(http, e2e_stack))
        document = http.get(f"{e2e_stack.url}/api/v1/openapi.json", timeout=10).json()
        failures: list[str] = []
        sent = 0
        for template, item in sorted(document["paths"].items()):
            if re.match(SESSION_ENDING, template):
                continue
            url = e2e_stack.url + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
            for method, operation in item.items():
                if method == "get":
                    attempts = [("GET", f"{url}?{query}", None) for query in HOSTILE_QUERIES]
                elif "application/json" in operation.get("requestBody", {}).get("content", {}):
                    attempts = [(method.upper(), url, body) for body in HOSTILE_BODIES]
                else:
                    continue
                for verb, target, body in attempts:
                    response = http.request(
                        verb,
                        target,
                        data=body,
                        headers={**headers, "Content-Type": "application/json"},
                        timeout=30,
                    )
                    sent += 1
                    is_json = response.headers.get("Content-Type", "").startswith(
                        "application/json"
                    )
                    if response.status_code >= 500 or (response.status_code >= 400 and not is_json):
                        failures.append(
                            f"{verb} {target[:150]} body={(body or b'')[:60]!r} -> "
                            f"{response.status_code} {response.text[:200]}"
                        )
    assert sent >= 150
    assert not failures, "\n".join(failures)
