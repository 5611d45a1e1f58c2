"""`frota up` as an operator runs it: embedded PostgreSQL, the whole stack, Ctrl-C
stops everything, and a second run reuses the data."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from tests.support.processes import free_port

STARTUP_TIMEOUT = 90


def frota_up(var_dir: Path, ports: dict[str, int], redis_url: str) -> subprocess.Popen[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "JWT_SECRET_KEY", "INTERNAL_SECRET_KEY"}
    }
    env.update(
        FROTA_VAR_DIR=str(var_dir),
        REDIS_URL=redis_url,
        WEB_CONCURRENCY="1",
        LOG_LEVEL="WARNING",
        **{f"{part.upper()}_PORT": str(port) for part, port in ports.items()},
    )
    env.pop("FROTA_ADMIN_PASSWORD", None)
    frota = Path(sys.executable).with_name("frota")
    return subprocess.Popen(
        [str(frota), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def read_until_up(proc: subprocess.Popen[str]) -> str:
    output = ""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output += line
        if "Frota is up" in line:
            return output
    raise AssertionError(f"frota up did not come up:\n{output}")


def embedded_postgres_pids(var_dir: Path) -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(str(var_dir / "pgdata") in part for part in cmdline):
            pids.add(proc.pid)
    return pids


def stop_and_collect(
    proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT
) -> tuple[int, str]:
    proc.send_signal(sig)
    remaining, _ = proc.communicate(timeout=60)
    return proc.returncode, remaining


def test_up_runs_everything_and_ctrl_c_leaves_no_process_behind(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    ports = {part: free_port() for part in ("gateway", "auth", "fleet", "media")}
    proc = frota_up(var_dir, ports, redis_url)
    try:
        output = read_until_up(proc)
        assert "one-time password (shown once" in output
        health = requests.get(f"http://127.0.0.1:{ports['gateway']}/health", timeout=10)
        assert health.status_code == 200, health.text
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 8  # 4 gunicorn masters + their workers
        postgres = embedded_postgres_pids(var_dir)
        assert postgres
    finally:
        code, tail = stop_and_collect(proc)
    assert code == 0, tail
    assert "stopped" in tail
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert embedded_postgres_pids(var_dir) == set()

    # A second run reuses the database: the admin exists, no new password is printed.
    again = frota_up(var_dir, ports, redis_url)
    try:
        output = read_until_up(again)
        assert "one-time password" not in output
        login = requests.post(
            f"http://127.0.0.1:{ports['gateway']}/api/v1/auth/login",
            json={"username": "admin", "password": "wrong-password"},
            timeout=10,
        )
        assert login.status_code == 401
    finally:
        code, _ = stop_and_collect(again)
    assert code == 0
    assert embedded_postgres_pids(var_dir) == set()


def test_closing_the_terminal_stops_everything_like_ctrl_c(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    ports = {part: free_port() for part in ("gateway", "auth", "fleet", "media")}
    proc = frota_up(var_dir, ports, redis_url)
    try:
        read_until_up(proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert embedded_postgres_pids(var_dir)
    finally:
        # What the terminal sends its foreground job when its window is closed.
        code, tail = stop_and_collect(proc, signal.SIGHUP)
    assert code == 0, tail
    assert "stopped" in tail
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert embedded_postgres_pids(var_dir) == set()


def test_the_gunicorn_processes_go_with_a_killed_frota_up(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    ports = {part: free_port() for part in ("gateway", "auth", "fleet", "media")}
    proc = frota_up(var_dir, ports, redis_url)
    gunicorns: list[psutil.Process] = []
    try:
        read_until_up(proc)
        gunicorns = [
            child
            for child in psutil.Process(proc.pid).children(recursive=True)
            if "gunicorn" in " ".join(child.cmdline())
        ]
        assert len(gunicorns) >= 8  # 4 masters and their workers
        proc.kill()  # SIGKILL, as the OOM killer would: no chance to stop anything
        proc.wait(10)
        # Each master gets SIGTERM from the kernel and stops its workers.
        _, alive = psutil.wait_procs(gunicorns, timeout=30)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for orphan in gunicorns:  # only when the assertion above failed
            with contextlib.suppress(psutil.NoSuchProcess):
                orphan.kill()
        proc.communicate(timeout=10)  # close its output pipe (orphans would hold it)
        # The embedded PostgreSQL is a daemon of its own; stop it for the next test.
        for pid in embedded_postgres_pids(var_dir):
            with contextlib.suppress(psutil.NoSuchProcess):
                postmaster = psutil.Process(pid)
                postmaster.send_signal(signal.SIGINT)
                postmaster.wait(30)
