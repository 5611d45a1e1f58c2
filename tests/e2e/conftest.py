"""The real stack for end-to-end tests: gunicorn processes on free ports, PostgreSQL,
Redis, the gateway in front — driven over HTTP as a client app would."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pytest
import redis

from frota.cli import ensure_admin
from frota.database import migrate
from frota.stack import Stack
from shared.config import Settings
from tests.conftest import TEST_SECRETS
from tests.support.database import scratch_database
from tests.support.processes import RedisProcess, free_port

if TYPE_CHECKING:
    from _pytest.fixtures import FixtureFunctionDefinition

ADMIN_PASSWORD = "first-admin-password"
# The API's parts: what a test of the API starts (the console's costs every stack two
# more workers to boot, for nothing the test looks at).
API_PARTS = ("auth", "fleet", "media", "gateway")
# The job workers: what a test of jobs (webhooks, digests, pruning) adds to API_PARTS.
WORKER_PARTS = ("fleet-worker", "media-worker")
ALL_PARTS = ("auth", "fleet", "media", "web", "gateway", *WORKER_PARTS)


@dataclass
class RunningStack:
    stack: Stack
    settings: Settings
    redis_process: RedisProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url)

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
        "WEB_PORT": str(free_port()),
        "FLEET_WORKER_PORT": str(free_port()),
        "MEDIA_WORKER_PORT": str(free_port()),
        "WEB_CONCURRENCY": "2",
        "UPSTREAM_READ_TIMEOUT": "5",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def running_stack(
    pg_server_url: str,
    var_dir: Path,
    *,
    parts: tuple[str, ...] = API_PARTS,
    gateway_workers: int = 4,
    **env: str,
) -> Iterator[RunningStack]:
    """A whole stack with its own database and its own Redis (tests may flush or stop it)."""
    with RedisProcess() as redis_process, scratch_database(pg_server_url, "e2e") as database_url:
        migrate(database_url)
        full_env = stack_env(database_url, redis_process.url, var_dir, **env)
        settings = Settings.from_env(full_env)
        ensure_admin(settings)
        # Four gateway workers: revocation and limits must hold across processes.
        stack = Stack(settings, {**os.environ, **full_env}, workers={"gateway": gateway_workers})
        try:
            stack.start(parts)
            stack.wait_until_healthy()
            yield RunningStack(stack, settings, redis_process)
        finally:
            # At once: nothing a test waits for is in flight any more, and a graceful stop
            # would wait out the graceful timeout for every kept-alive idle connection.
            stack.stop(signal.SIGQUIT)


def module_stack(var_dir: str, **options: Any) -> FixtureFunctionDefinition:
    """A fixture of one module's own stack: ``running_stack(**options)`` with its var
    directory named ``var_dir``, started before the module's first test, stopped after
    its last. Assign it to the fixture's name: ``stack = module_stack("kill-var", ...)``."""

    @pytest.fixture(scope="module")
    def stack(
        pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[RunningStack]:
        with running_stack(pg_server_url, tmp_path_factory.mktemp(var_dir), **options) as running:
            yield running

    return stack


class RateLimits(TypedDict):
    RATE_LIMIT_DEFAULT: str
    RATE_LIMIT_LOGIN: str
    RATE_LIMIT_LOGINS_PER_ACCOUNT: str
    RATE_LIMIT_LOGINS_PER_ADDRESS: str


# Limits so high that tests not about limits never meet them (typed, so that a call
# unpacking them is checked against running_stack's options).
NO_RATE_LIMITS: RateLimits = {
    "RATE_LIMIT_DEFAULT": "100000/minute",
    "RATE_LIMIT_LOGIN": "100000/minute",
    "RATE_LIMIT_LOGINS_PER_ACCOUNT": "100000/minute",
    "RATE_LIMIT_LOGINS_PER_ADDRESS": "100000/minute",
}


@pytest.fixture(scope="session")
def e2e_stack(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    # The flows here are not about limits (tests/e2e/test_rate_limits.py is). The whole
    # stack: the console's tests (tests/e2e/console/) share it.
    with running_stack(
        pg_server_url,
        tmp_path_factory.mktemp("e2e-var"),
        parts=ALL_PARTS,
        # The tests' webhook receivers listen on 127.0.0.1, over plain http.
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        **NO_RATE_LIMITS,
    ) as stack:
        yield stack
