"""One compose stack for the whole `make test-compose` run: up before the first test, down after.

Not collected by `make test` (pyproject's norecursedirs): it needs a Docker
engine, builds images and takes minutes. Its tests run in file order, each on
what the one before left (the stack, the admin's password, the backup).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator

import pytest

from tests.compose.stack import (
    CI,
    MEASURED,
    STATE,
    TIMINGS,
    Compose,
    free_port,
    run,
    timed,
    write_env_file,
)

BACKUPS = STATE.parent.parent / "backups"
APP_UID = 10001  # the image's user, which writes the backups


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Compose]:
    STATE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DOCKER_BUILDKIT": "0", "FROTA_IMAGE_TAG": "compose-test"}
    with timed("engine (start or reuse)"):
        already_running = run(["docker", "info"], timeout=30, check=False).returncode == 0
        run([str(CI / "engine.sh"), "start"], timeout=600)
        compose_command = run([str(CI / "engine.sh"), "compose"], timeout=300).stdout.split()
    port = free_port()
    compose = Compose(compose_command, env, STATE / "compose-test.env", port, not already_running)
    write_env_file(compose.env_file, port)
    created_backups_dir = not BACKUPS.exists()
    try:
        with timed("base images (present, pulled or stand-ins built)"):
            run([str(CI / "base-images.sh")], timeout=900, env=env)
        # As docs/operations.md's first deployment: the app user owns ./backups.
        BACKUPS.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(BACKUPS, APP_UID, APP_UID)
        with timed("build the app image"):
            compose("build", timeout=900)
        with timed("up -d --wait (migrate, then every service healthy)"):
            compose("up", "--detach", "--wait", timeout=600)
        yield compose
    finally:
        if request.session.testsfailed:
            print(
                compose("logs", "--no-color", "--tail", "200", check=False).stdout, file=sys.stderr
            )
        with timed("down -v"):
            compose("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)
        for path in compose.backups_made:
            path.unlink(missing_ok=True)
        if created_backups_dir:
            shutil.rmtree(BACKUPS, ignore_errors=True)
        if compose.started_engine:
            with timed("stop the engine this run started"):
                run([str(CI / "engine.sh"), "stop"], timeout=60)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("make test-compose: time per step")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{seconds:7.1f} s  {name}")
        for line in MEASURED:
            terminalreporter.write_line(line)
