"""Schemathesis against the merged OpenAPI document, through the gateway: whatever it
sends, no 5xx, and every response matches the schema documented for its status.

Each operation is explored with a fixed seed and a bounded number of examples, so a
run is repeatable and takes a known time.
"""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.helpers import admin_token, bearer

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

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
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
