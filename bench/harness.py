"""What every benchmark needs: a running stack on free ports, tokens, and wrk.

Benchmarks print ratios measured side by side in one run; absolute numbers on
a shared 2-core machine are noise, ratios much less so.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from frota.database import migrate
from frota.stack import Stack
from shared.config import Settings
from shared.internal_auth import mint_internal_token
from tests.support.database import postgres_server, scratch_database
from tests.support.factories import committed_manager
from tests.support.identity import client_access_token
from tests.support.processes import RedisProcess, free_port


@dataclass
class BenchStack:
    stack: Stack
    settings: Settings

    def url(self, part: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.settings.port_of(part)}"

    def client_token(self, user_id: str, role: str = "manager") -> str:
        return client_access_token(self.settings, user_id, role)

    def internal_token(self, service: str, user_id: str, role: str = "manager") -> str:
        """What the gateway would attach: lets a benchmark call a service directly."""
        return mint_internal_token(
            self.settings.internal_secret_key,
            issuer="gateway",
            audience=service,
            request_id=uuid.uuid4().hex,
            user_id=user_id,
            role=role,
            ttl_seconds=60,
        )

    def create_manager(self) -> str:
        user_id, _ = committed_manager(self.settings, secrets.token_urlsafe(16))
        return user_id


@contextmanager
def bench_stack(
    workers: int = 4, parts: tuple[str, ...] = ("auth", "fleet", "media", "gateway"), **env: str
) -> Iterator[BenchStack]:
    """The real stack (gunicorn, WEB_CONCURRENCY workers) on a fresh database and Redis."""
    with (
        bench_database() as database_url,
        RedisProcess() as redis_process,
        tempfile.TemporaryDirectory(prefix="frota-bench-var-") as var_dir,
    ):
        migrate(database_url)
        full_env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_process.url,
            "FROTA_VAR_DIR": var_dir,
            "WEB_CONCURRENCY": str(workers),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_DEFAULT": "100000000/minute",
            "GATEWAY_PORT": str(free_port()),
            "AUTH_PORT": str(free_port()),
            "FLEET_PORT": str(free_port()),
            "MEDIA_PORT": str(free_port()),
            **env,
        }
        settings = Settings.from_env(full_env)
        stack = Stack(settings, {**os.environ, **full_env})
        try:
            stack.start(parts)
            stack.wait_until_healthy()
            yield BenchStack(stack, settings)
        finally:
            stack.stop()


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database on BENCH_DATABASE_URL's server, or on embedded PostgreSQL."""
    with (
        postgres_server("BENCH_DATABASE_URL") as server_url,
        scratch_database(server_url, "bench") as database_url,
    ):
        yield database_url


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _field(pattern: str, output: str) -> str:
    match = re.search(pattern, output)
    if match is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{output}")
    return match.group(1)


def wrk(url: str, *, headers: dict[str, str], connections: int, seconds: int) -> WrkResult:
    """One wrk run (2 threads) with latency percentiles."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors against {url}:\n{output}")
    rps = float(_field(r"Requests/sec:\s+([\d.]+)", output))
    p50 = _ms(_field(r"\s50%\s+(\S+)", output))
    p99 = _ms(_field(r"\s99%\s+(\S+)", output))
    return WrkResult(rps, p50, p99)


def median_spread(values: list[float]) -> tuple[float, float]:
    """Median and spread (max - min) of repeated measurements."""
    return statistics.median(values), max(values) - min(values)


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
