"""The production compose stack, driven as an operator drives it, for `make test-compose`.

The engine, the compose command and the base images come from deploy/ci/
(engine.sh, base-images.sh): the machine's own where it has them, stand-ins
where it has not. The stack is docker-compose.yml unchanged; the test only
chooses, through variables the file already reads, its secrets (random), the
published gateway port (a free one) and the image tag.
"""

from __future__ import annotations

import json
import secrets
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "deploy" / "ci"
STATE = REPO / "var" / "ci"
PROJECT = "frota-compose-test"
SECRETS = (
    "JWT_SECRET_KEY",
    "INTERNAL_SECRET_KEY",
    "WEB_SECRET_KEY",
    "POSTGRES_PASSWORD",
    "AUTH_DB_PASSWORD",
    "FLEET_DB_PASSWORD",
    "MEDIA_DB_PASSWORD",
)
LONG_RUNNING = (
    "db",
    "redis",
    "auth",
    "fleet",
    "media",
    "web",
    "gateway",
    "fleet-worker",
    "media-worker",
)

# How long each step took, in the order they ran, and what the run measured
# besides: printed at the end of the run.
TIMINGS: dict[str, float] = {}
MEASURED: list[str] = []


@contextmanager
def timed(name: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[name] = time.monotonic() - start
        print(f"[compose test] {name}: {TIMINGS[name]:.1f} s", file=sys.stderr, flush=True)


def run(
    command: list[str], timeout: float, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, bounded by ``timeout``; a failure shows its output."""
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{shlex.join(command)} exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def wait_until(what: str, condition: Callable[[], bool], timeout: float, every: float = 1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Compose:
    """`docker compose` on docker-compose.yml, with the test's variables."""

    command: list[str]
    env: dict[str, str]
    env_file: Path
    port: int
    started_engine: bool = False
    backups_made: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([*shlex.split(self.command_line()), *args], timeout, self.env, check)

    def command_line(self) -> str:
        """The compose command with the test's project and variables, as one line for a script."""
        return shlex.join(
            [*self.command, "--project-name", PROJECT, "--env-file", str(self.env_file)]
        )

    def containers(self) -> list[dict[str, Any]]:
        """`compose ps --all` as dicts, one per container."""
        out = self("ps", "--all", "--format", "json").stdout
        # Compose prints one JSON object per line (older releases: one array).
        if out.lstrip().startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def container_id(self, service: str) -> str:
        return self("ps", "--quiet", service).stdout.strip()

    def inspect(self, service: str, template: str) -> str:
        command = ["docker", "inspect", "--format", template, self.container_id(service)]
        return run(command, timeout=30).stdout.strip()


def write_env_file(path: Path, port: int) -> None:
    """Random secrets, the free port, and rate limits out of the way of the pollers."""
    lines = [f"{name}={secrets.token_urlsafe(48)}" for name in SECRETS]
    lines += [
        f"GATEWAY_PUBLISH=127.0.0.1:{port}",
        # The update measurement polls twice every 0.1 s for a minute.
        "RATE_LIMIT_DEFAULT=100000/minute",
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
