"""Every `frota` subcommand against the stack `frota up` runs, from a second terminal
in the same directory with no variables set: the embedded PostgreSQL already
running in var/pgdata is used (never a second one started, never stopped), and
`frota status` says what runs. One stack for the whole module: it is slow to start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from frota import local
from frota.stack import APPS, PARTS, WORKERS, port_variable
from tests.support.processes import RedisProcess, free_port

FROTA = str(Path(sys.executable).with_name("frota"))
STARTUP_TIMEOUT = 90
COMMAND_TIMEOUT = 60
REUSED = "using the embedded PostgreSQL already running in"


@dataclass
class UpStack:
    directory: Path  # the "repo dir": var/ and backups/ are under it
    proc: subprocess.Popen[str]
    gateway_port: int
    redis: RedisProcess

    @property
    def var_dir(self) -> Path:
        return self.directory / "var"

    def postgres_pid(self) -> int | None:
        postmaster = local.running_postmaster(local.pgdata_of(self.var_dir))
        return postmaster.pid if postmaster else None

    def stop(self) -> str:
        """Ctrl-C, as in its terminal; what it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        return (self.directory / "up.log").read_text()


def frota(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`frota ARGS` as a user types it in ``directory``: nothing set but PATH and HOME."""
    return subprocess.run(
        [FROTA, *args],
        cwd=directory,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(directory))},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> Iterator[UpStack]:
    """`frota up` run in a fresh directory, on free ports and a Redis of its own (a test
    stops it): the only variables it is given."""
    directory = tmp_path_factory.mktemp("repo")
    ports = {part: free_port() for part in PARTS}
    with RedisProcess() as redis_process:
        yield from _frota_up(directory, ports, redis_process)


def _frota_up(directory: Path, ports: dict[str, int], redis: RedisProcess) -> Iterator[UpStack]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(directory)),
        "REDIS_URL": redis.url,
        "WEB_CONCURRENCY": "1",
        **{port_variable(part): str(port) for part, port in ports.items()},
    }
    # A file, not a pipe: nobody reads while it runs, and a full pipe would block the stack.
    with (directory / "up.log").open("w") as log:
        proc = subprocess.Popen(
            [FROTA, "up"], cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    stack = UpStack(directory, proc, ports["gateway"], redis)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _serving(stack):
            assert proc.poll() is None, f"frota up exited:\n{stack.stop()}"
            assert time.monotonic() < deadline, f"frota up did not come up:\n{stack.stop()}"
            time.sleep(0.2)
        yield stack
    finally:
        stack.stop()


def _serving(stack: UpStack) -> bool:
    if local.running_stack(stack.var_dir) is None:
        return False
    try:
        url = f"http://127.0.0.1:{stack.gateway_port}/health"
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def test_status_of_the_running_stack_names_each_part_its_health_data_and_disk(up):
    text = frota(up.directory, "status")
    assert text.returncode == 0, text.stdout + text.stderr
    running = local.running_stack(up.var_dir)
    assert f"frota up   running at http://127.0.0.1:{up.gateway_port} (pid {running.pid}" in (
        text.stdout
    )
    assert set(running.parts) == set(PARTS)
    for part, pid in running.parts.items():
        state = "/livez ok" if part in WORKERS else "1 worker"
        assert f"  {part:<12} port {running.ports[part]:<6} pid {pid:<7} {state}\n" in text.stdout
    assert "/health 200 ok: auth ok, fleet ok, media ok, redis ok" in text.stdout
    pgdata = up.var_dir / "pgdata"
    assert f"database   embedded PostgreSQL in {pgdata} (pid {up.postgres_pid()}): " in text.stdout
    assert f"media      {up.var_dir / 'media'}: 0 B used of 10.0 GB quota (0.0 %), 0 files" in (
        text.stdout
    )
    assert "status     ok" in text.stdout

    report = json.loads(frota(up.directory, "status", "--json").stdout)
    assert report["ok"] is True
    assert {p: (v["running"], v["workers"], v["livez"]) for p, v in report["parts"].items()} == {
        **{part: (True, 1, None) for part in APPS},
        **{part: (True, None, "ok") for part in WORKERS},
    }
    assert set(report["queues"]) == {"fleet", "media"}
    assert [q["failed"] for q in report["queues"].values()] == [0, 0]
    assert "queues     fleet " in text.stdout
    assert report["health"]["http_status"] == 200
    assert {d["status"] for d in report["health"]["dependencies"].values()} == {"ok"}
    assert report["database"]["size_bytes"] > 0
    assert report["media"]["quota_bytes"] == 10240 * 1024 * 1024
    assert report["media"]["filesystem_free_bytes"] > 0
    assert report["prune"]["interval_minutes"] == 60
    assert 0 < report["prune"]["next_in_seconds"] <= 3600


def test_status_exits_non_zero_and_says_what_is_down_when_redis_is(up):
    up.redis.stop()
    try:
        degraded = frota(up.directory, "status")
    finally:
        up.redis.start()

    assert degraded.returncode == 1
    assert "/health 503 degraded: auth ok, fleet ok, media ok, redis down" in degraded.stdout
    assert "status     DOWN: /health degraded" in degraded.stdout


def test_every_subcommand_uses_the_running_embedded_postgresql_with_no_variables_set(up):
    postgres = up.postgres_pid()
    commands = [
        ("migrate",),
        ("init",),
        ("create-user", "--username", "joana", "--full-name", "Joana Lima", "--role", "driver"),
        ("unlock-user", "joana"),
        ("media", "prune", "--dry-run"),
        ("media", "prune"),
        ("media", "reconcile"),
        ("backup",),
    ]
    for command in commands:
        result = frota(up.directory, *command)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"frota {' '.join(command)}:\n{output}"
        assert REUSED in output, output
        assert "starting embedded PostgreSQL" not in output, output
    # Not stopped by any of them, nor replaced.
    assert up.postgres_pid() == postgres

    [manifest] = (up.directory / "backups").glob("*.manifest.json")
    verified = frota(up.directory, "verify-backup", str(manifest))
    assert verified.returncode == 0, verified.stderr
    status = json.loads(frota(up.directory, "status", "--json").stdout)
    assert status["ok"] is True
    assert status["backup"]["name"] == manifest.name.removesuffix(".manifest.json")
    assert status["prune"]["last_at"] is not None  # the `media prune` above


def test_restore_refuses_while_frota_up_runs_on_the_database(up):
    backups = sorted((up.directory / "backups").glob("*.manifest.json"))
    assert backups, "the previous test's backup"

    refused = frota(up.directory, "restore", str(backups[-1]), "--yes")

    assert refused.returncode == 1
    running = local.running_stack(up.var_dir)
    assert f"frota up (pid {running.pid}) is running on this database: stop it first" in (
        refused.stderr
    )
    assert "nothing was changed" in refused.stderr
    assert frota(up.directory, "status").returncode == 0


def test_once_stopped_status_says_so_and_restore_runs_on_a_postgresql_of_its_own(up):
    backups = sorted((up.directory / "backups").glob("*.manifest.json"))
    assert backups, "the previous test's backup"
    up.stop()
    assert up.postgres_pid() is None

    stopped = frota(up.directory, "status")
    assert stopped.returncode == 1
    assert "frota up   not running" in stopped.stdout
    assert f"embedded PostgreSQL in {up.var_dir / 'pgdata'}: not running" in stopped.stdout
    assert "status     DOWN: not running" in stopped.stdout
    report = json.loads(frota(up.directory, "status", "--json").stdout)
    assert (report["ok"], report["running"], report["frota_up"]) == (False, False, None)

    restored = frota(up.directory, "restore", str(backups[-1]), "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "starting embedded PostgreSQL in" in restored.stdout
    assert "stopped the embedded PostgreSQL in" in restored.stdout
    assert up.postgres_pid() is None
    assert not [p for p in psutil.process_iter(["cmdline"]) if _is_postgres_of(p, up.var_dir)]


def _is_postgres_of(process: psutil.Process, var_dir: Path) -> bool:
    return any(str(var_dir / "pgdata") in part for part in process.info["cmdline"] or [])
