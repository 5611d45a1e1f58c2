"""LOG_FORMAT reaches gunicorn's own lines too: a real gateway process, each format."""

from __future__ import annotations

import json
import os
import re
import time

import requests

from frota.stack import Stack
from shared.config import Settings
from tests.conftest import TEST_SECRETS
from tests.support.processes import free_port

# What ConsoleFormatter writes first on every line: local time, then the part.
CONSOLE_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d{3} gateway ")


def run_gateway(tmp_path, redis_url, log_format):
    """Start a one-worker gateway in ``log_format``, ask it /livez, stop it; its log lines."""
    env = {
        **TEST_SECRETS,
        "FROTA_VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": redis_url,
        "GATEWAY_PORT": str(free_port()),
        "LOG_FORMAT": log_format,
    }
    settings = Settings.from_env(env)
    url = f"http://127.0.0.1:{settings.gateway_port}/livez"
    stack = Stack(settings, {**os.environ, **env}, workers={"gateway": 1}, log_dir=tmp_path)
    stack.start(("gateway",))
    try:
        deadline = time.monotonic() + 30
        while True:
            # Connection: close, so that the graceful stop has no idle connection to wait out.
            try:
                answer = requests.get(url, headers={"Connection": "close"}, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
    finally:
        stack.stop()
    return (tmp_path / "gateway.log").read_text().splitlines()


def test_console_format_gives_readable_lines_for_gunicorn_and_each_request(tmp_path, redis_url):
    lines = run_gateway(tmp_path, redis_url, "console")

    assert lines
    assert all(CONSOLE_LINE.match(line) for line in lines), lines
    assert any("INFO gunicorn.error: Starting gunicorn" in line for line in lines), lines
    [request] = [line for line in lines if "GET /livez" in line]
    assert re.search(r"GET /livez 200 \d+\.\d ms id=[0-9a-f]{32}$", request), request


def test_json_format_gives_one_json_object_per_line_for_gunicorn_and_each_request(
    tmp_path, redis_url
):
    lines = run_gateway(tmp_path, redis_url, "json")

    records = [json.loads(line) for line in lines]
    assert {record["service"] for record in records} == {"gateway"}
    assert any(record["message"].startswith("Starting gunicorn") for record in records)
    [request] = [record for record in records if record.get("path") == "/livez"]
    assert (request["method"], request["status"]) == ("GET", 200)
