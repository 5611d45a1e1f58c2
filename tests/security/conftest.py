"""A whole stack for the security tests, each process's log output kept in a file.

Like tests/e2e's stack (gunicorn on free ports, its own database and Redis), but
logging at DEBUG into ``<var>/logs/<part>.log`` so that a test can read back
everything the processes wrote.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from frota.cli import ensure_admin
from frota.database import migrate
from frota.stack import Stack
from shared.config import Settings
from tests.e2e.conftest import RunningStack, stack_env
from tests.support.database import scratch_database
from tests.support.processes import RedisProcess

PARTS = ("auth", "fleet", "media", "gateway")


@dataclass
class LoggedStack(RunningStack):
    log_dir: Path

    def log_text(self) -> str:
        """Everything every process has written so far."""
        return "".join((self.log_dir / f"{part}.log").read_text(errors="replace") for part in PARTS)


@pytest.fixture(scope="session")
def logged_stack(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoggedStack]:
    var_dir = tmp_path_factory.mktemp("security-var")
    with RedisProcess() as redis_process, scratch_database(pg_server_url, "sec") as database_url:
        migrate(database_url)
        env = stack_env(
            database_url,
            redis_process.url,
            var_dir,
            LOG_LEVEL="DEBUG",
            RATE_LIMIT_DEFAULT="100000/minute",
            RATE_LIMIT_LOGIN="100000/minute",
        )
        settings = Settings.from_env(env)
        ensure_admin(settings)
        log_dir = var_dir / "logs"
        stack = Stack(settings, {**os.environ, **env}, workers={"gateway": 2}, log_dir=log_dir)
        try:
            stack.start(PARTS)
            stack.wait_until_healthy()
            yield LoggedStack(stack, settings, redis_process, log_dir)
        finally:
            stack.stop(signal.SIGQUIT)
