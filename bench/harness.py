"""What every benchmark needs: a running stack on free ports, tokens, and wrk.

Benchmarks print ratios measured side by side in one run; absolute numbers on
a shared 2-core machine are noise, ratios much less so.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import redis
from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token
from sqlalchemy.orm import Session

from auth_service import service as auth
from frota.database import create_database, migrate, start_embedded
from frota.stack import Stack
from shared.config import Settings
from shared.db import make_engine
from shared.internal_auth import mint_internal_token
from shared.tokens import configure_jwt


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BenchStack:
    stack: Stack
    settings: Settings

    def url(self, part: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.settings.port_of(part)}"

    def client_token(self, user_id: str, role: str = "manager") -> str:
        app = Flask("bench-tokens")
        configure_jwt(app, self.settings)
        JWTManager(app)
        with app.app_context():
            return create_access_token(
                identity=user_id, additional_claims={"role": role, "mcp": False, "gen": 0}
            )

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
        engine = make_engine(self.settings.database_url or "", self.settings)
        try:
            with Session(engine) as session:
                user, _ = auth.create_user(
                    db_session=session,
                    username=f"bench-{uuid.uuid4().hex[:8]}",
                    full_name="Bench Manager",
                    role="manager",
                    password=secrets.token_urlsafe(16),
                )
                return str(user.id)
        finally:
            engine.dispose()


@contextmanager
def postgres_server() -> Iterator[str]:
    """BENCH_DATABASE_URL's server if given, else embedded PostgreSQL in a temp dir."""
    configured = os.environ.get("BENCH_DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="frota-bench-pg-") as tmp:
        server, url = start_embedded(Path(tmp) / "pgdata", database="postgres", cleanup="delete")
        try:
            yield url
        finally:
            server.cleanup()


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def bench_stack(
    workers: int = 4, parts: tuple[str, ...] = ("auth", "fleet", "media", "gateway"), **env: str
) -> Iterator[BenchStack]:
    """The real stack (gunicorn, WEB_CONCURRENCY workers) on a fresh database and Redis."""
    with (
        postgres_server() as server_url,
        redis_server() as redis_url,
        tempfile.TemporaryDirectory(prefix="frota-bench-var-") as var_dir,
    ):
        name = f"frota_bench_{secrets.token_hex(4)}"
        create_database(server_url, name)
        database_url = with_database(server_url, name)
        try:
            migrate(database_url)
            full_env = {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
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
        finally:
            drop_database(server_url, name)


def with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


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


def wrk(url: str, *, headers: dict[str, str], connections: int, seconds: int) -> WrkResult:
    """One wrk run (2 threads) with latency percentiles."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors against {url}:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    return WrkResult(rps, p50, p99)


def median_spread(values: list[float]) -> tuple[float, float]:
    """Median and spread (max - min) of repeated measurements."""
    return statistics.median(values), max(values) - min(values)


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
