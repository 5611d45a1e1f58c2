"""The real stack for end-to-end tests: gunicorn processes on free ports, PostgreSQL,
Redis, the gateway in front — driven over HTTP as a client app would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from frota.cli import ensure_admin
from frota.database import migrate
from frota.stack import Stack
from shared.config import Settings
from tests.conftest import TEST_SECRETS
from tests.support.database import scratch_database
from tests.support.processes import free_port, redis_server

ADMIN_PASSWORD = "first-admin-password"


@dataclass
class RunningStack:
    stack: Stack
    settings: Settings

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    def service_url(self, part: str) -> str:
        return f"http://127.0.0.1:{self.settings.port_of(part)}"


def stack_env(database_url: str, redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **TEST_SECRETS,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FROTA_VAR_DIR": str(var_dir),
        "FROTA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GATEWAY_PORT": str(free_port()),
        "AUTH_PORT": str(free_port()),
        "FLEET_PORT": str(free_port()),
        "MEDIA_PORT": str(free_port()),
        "WEB_CONCURRENCY": "2",
        "UPSTREAM_READ_TIMEOUT": "5",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.fixture(scope="session")
def e2e_stack(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    var_dir = tmp_path_factory.mktemp("e2e-var")
    # A Redis of its own, so that tests may flush or stop it.
    with redis_server() as redis_url, scratch_database(pg_server_url, "e2e") as database_url:
        migrate(database_url)
        env = stack_env(database_url, redis_url, var_dir)
        settings = Settings.from_env(env)
        ensure_admin(settings)
        # Four gateway workers: revocation and limits must hold across processes.
        stack = Stack(settings, {**os.environ, **env}, workers={"gateway": 4})
        try:
            stack.start()
            stack.wait_until_healthy()
            yield RunningStack(stack, settings)
        finally:
            stack.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
