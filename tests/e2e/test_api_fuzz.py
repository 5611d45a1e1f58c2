"""Schemathesis against the merged OpenAPI document, through the gateway, with every
check it has: whatever it sends, the answer is one the document promises (status,
content type, headers, body schema), schema-valid requests are accepted or refused
only for a reason the operation documents, invalid ones are refused, and nothing
answers without authentication. Then hostile bodies and query strings on every
operation: JSON 4xx, never a 5xx.

One run per role (admin, manager, driver), each as its own user so that logging
out, refreshing or deactivating cannot lock the other runs out (the admin's, which
can deactivate users, runs after the others). The seed, the
number of examples per operation and the stateful steps are fixed
(tests/e2e/schemathesis.toml): a run is repeatable and takes a known time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import NO_RATE_LIMITS, RunningStack, module_stack
from tests.e2e.helpers import admin_token, bearer, new_user

# The fuzzer's own stack: what it creates does not leak into other tests' lists.
fuzz_stack = module_stack("fuzz-var", **NO_RATE_LIMITS)
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 3
SESSION_ENDING = r"^/api/v1/auth/(logout|me/password)$"


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


# Before the Schemathesis runs below (pytest keeps the module's order): the admin's
# run may deactivate any user it finds, the first admin this test logs in as included.
def test_hostile_bodies_and_queries_through_the_gateway_are_json_4xx(fuzz_stack):
    with requests.Session() as http:
        headers = bearer(admin_token(http, fuzz_stack))
        document = http.get(f"{fuzz_stack.url}/api/v1/openapi.json", timeout=10).json()
        failures: list[str] = []
        sent = 0
        for template, item in sorted(document["paths"].items()):
            if re.match(SESSION_ENDING, template):
                continue
            url = fuzz_stack.url + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
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


# What each role's run covers. A manager has every fleet and media right an admin
# has: the admin's run is the operations only an admin may call (user management).
# The coverage phase's boundary values try the schemas, which are the same for every
# role: the manager's run has it; the driver's is about what a driver may reach.
RUNS = {
    "manager": (),
    "driver": ("--phases", "examples,fuzzing,stateful"),
    "admin": ("--include-tag", "Auth"),
}
RUN_SECONDS = 300


@contextmanager
def schemathesis_run(
    stack: RunningStack, user: dict, report: Path, options: tuple[str, ...]
) -> Iterator[subprocess.Popen[str]]:
    """``st run`` with every check as ``user``, its JUnit report at ``report``; killed
    if the test ends before it does."""
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{stack.url}/api/v1/openapi.json",
        "--url",
        stack.url,
        "--checks",
        "all",
        # Read after DELETE: a user's DELETE deactivates it and a vehicle's retires it;
        # the record stays readable with its history, as the contract says. Schemathesis
        # cannot be told so per operation (its per-operation check settings do not reach
        # its stateful phase), and a deleted file being gone is tests/media's to check.
        "--exclude-checks",
        "use_after_free",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--no-color",
        *options,
    ]
    with subprocess.Popen(
        command,
        env={**os.environ, "FUZZ_USERNAME": user["username"], "FUZZ_PASSWORD": user["password"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its cache (.schemathesis/) beside the report, not in the checkout.
        cwd=report.parent,
    ) as run:
        try:
            yield run
        finally:
            run.kill()


@pytest.mark.timeout(2 * RUN_SECONDS + 60)
def test_schemathesis_with_every_check_finds_nothing_as_any_role(fuzz_stack, tmp_path):
    with requests.Session() as http:
        users = {role: new_user(http, fuzz_stack, role) for role in RUNS}
    outputs = {}
    # A manager or a driver cannot end another user's session: their runs go together.
    # The admin's can (it deactivates and demotes users it finds), so it runs last.
    for roles in (("manager", "driver"), ("admin",)):
        with ExitStack() as running:
            runs = {
                role: running.enter_context(
                    schemathesis_run(fuzz_stack, users[role], tmp_path / f"{role}.xml", RUNS[role])
                )
                for role in roles
            }
            for role, run in runs.items():
                outputs[role] = (run.communicate(timeout=RUN_SECONDS)[0], run.returncode)
    failed = {role: output for role, (output, code) in outputs.items() if code != 0}
    assert not failed, "\n\n".join(f"== as {role}\n{out[-15000:]}" for role, out in failed.items())
    for role, (output, _) in outputs.items():
        selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
        generated = re.search(r"(\d+) generated, \1 passed", output)
        assert selected, (role, output[-3000:])
        assert generated, (role, output[-3000:])
        # Every selected operation tested (all of them but for the admin), several
        # cases each on average: not stopped at a 401 (which would be one each). An
        # operation without inputs (GET /notification-settings) has one case of its own.
        assert selected.group(1) == selected.group(3), (role, selected[0])
        assert RUNS[role] or selected.group(1) == selected.group(2), (role, selected[0])
        assert int(generated.group(1)) >= 4 * int(selected.group(1)), (role, generated[0])
