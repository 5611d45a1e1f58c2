"""`frota up` as an operator runs it: embedded PostgreSQL, the whole stack, a banner once
/health answers; Ctrl-C, a closed terminal or SIGKILL leave no process behind; a start that
would collide with something already running is refused before anything starts."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg2
import pytest
import requests

from frota import local
from frota.stack import PARTS, WORKERS, Stack, port_variable
from shared.config import Settings
from tests.conftest import TEST_SECRETS
from tests.support.processes import RedisProcess, free_port

STARTUP_TIMEOUT = 90
# A refused start checks ports and files only: it must answer at once.
REFUSAL_SECONDS = 10
BANNER_END = "Ctrl-C stops it."


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
        **{port_variable(part): str(port) for part, port in ports.items()},
    )
    env.pop("FROTA_ADMIN_PASSWORD", None)
    frota = Path(sys.executable).with_name("frota")
    return subprocess.Popen(
        [str(frota), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def free_ports() -> dict[str, int]:
    return {part: free_port() for part in PARTS}


def read_until_up(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Everything printed up to the end of the banner, and the banner itself."""
    output = ""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output += line
        if line.strip() == BANNER_END:
            return output, output[output.index("  Frota is up") :]
    raise AssertionError(f"frota up did not come up:\n{output}")


def refused_start(var_dir: Path, ports: dict[str, int], redis_url: str) -> str:
    """Run a `frota up` that must refuse at once; return what it said."""
    started = time.monotonic()
    proc = frota_up(var_dir, ports, redis_url)
    output, _ = proc.communicate(timeout=60)
    assert time.monotonic() - started < REFUSAL_SECONDS, output
    assert proc.returncode != 0, output
    assert "Frota is up" not in output
    assert "starting" not in output
    return output


def processes_of(var_dir: Path) -> list[psutil.Process]:
    """Every process of that var dir's stack: gunicorn (by its environment), the postmaster
    (by its command line) and PostgreSQL's backends (they run in the data directory)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "environ"]):
        if proc.pid == os.getpid():
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        environ = proc.info["environ"] or {}
        if (
            str(var_dir) in cmdline
            or (proc.info["cwd"] or "").startswith(str(var_dir))
            or environ.get("FROTA_VAR_DIR") == str(var_dir)
        ):
            found.append(proc)
    return found


def wait_until_none_left(var_dir: Path, timeout: float) -> float:
    """Seconds until no process of the var dir is left; fails after ``timeout``."""
    started = time.monotonic()
    while left := processes_of(var_dir):
        if time.monotonic() - started > timeout:
            descriptions = [local.process_description(p.pid) for p in left]
            raise AssertionError(f"still running after {timeout} s: {descriptions}")
        time.sleep(0.1)
    return time.monotonic() - started


def stop_and_collect(
    proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT
) -> tuple[int, str]:
    proc.send_signal(sig)
    remaining, _ = proc.communicate(timeout=60)
    return proc.returncode, remaining


def test_up_shows_a_banner_once_healthy_and_ctrl_c_leaves_no_process_behind(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    ports = free_ports()
    proc = frota_up(var_dir, ports, redis_url)
    try:
        output, banner = read_until_up(proc)
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        assert "starting embedded PostgreSQL in" in output
        # The banner comes after the boot lines and carries what an operator needs.
        assert banner.startswith(f"  Frota is up: {gateway}\n")
        password = re.search(
            r"username 'admin', one-time password \(shown once, change it at first login\): (\S+)",
            banner,
        )
        assert password, banner
        assert output.count(password.group(1)) == 1
        login = requests.post(
            f"{gateway}/api/v1/auth/login",
            json={"username": "admin", "password": password.group(1)},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        health = requests.get(f"{gateway}/health", timeout=10)
        assert health.status_code == 200, health.text

        # What other commands read about it.
        running = local.running_stack(var_dir)
        assert running is not None
        assert running.pid == proc.pid
        assert running.url == gateway
        assert running.ports == ports
        children = psutil.Process(proc.pid).children(recursive=True)
        assert set(running.parts) == set(PARTS)
        assert set(running.parts.values()) | {running.postgres_pid} <= {c.pid for c in children}
        # The job workers run beside the servers, each registered with its own queue.
        for part in WORKERS:
            livez = requests.get(f"http://127.0.0.1:{ports[part]}/livez", timeout=10)
            assert livez.status_code == 200, (part, livez.text)
        database_url = local.embedded_database_url(var_dir)
        assert database_url is not None
        with contextlib.closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM auth.users")
            assert cur.fetchone() == (1,)
            cur.execute(
                "SELECT (SELECT count(*) FROM fleet.procrastinate_workers),"
                " (SELECT count(*) FROM media.procrastinate_workers)"
            )
            assert cur.fetchone() == (1, 1)

        # A second `make up` on the same var dir says who runs and starts nothing.
        refusal = refused_start(var_dir, ports, redis_url)
        assert f"another frota up (pid {proc.pid}, up since {running.started_at}" in refusal
        assert f"kill {proc.pid}" in refusal
        assert requests.get(f"{gateway}/health", timeout=10).status_code == 200
    finally:
        code, tail = stop_and_collect(proc)
    assert code == 0, tail
    assert "stopped" in tail
    wait_until_none_left(var_dir, timeout=10)
    assert local.running_stack(var_dir) is None
    assert not (var_dir / local.STATE_FILE).exists()
    assert local.embedded_database_url(var_dir) is None


def test_closing_the_terminal_stops_everything_like_ctrl_c(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    proc = frota_up(var_dir, free_ports(), redis_url)
    try:
        read_until_up(proc)
        # 5 gunicorn masters and their workers, 2 job workers, PostgreSQL.
        assert len(processes_of(var_dir)) >= 13
    finally:
        # What the terminal sends its foreground job when its window is closed.
        code, tail = stop_and_collect(proc, signal.SIGHUP)
    assert code == 0, tail
    assert "stopped" in tail
    wait_until_none_left(var_dir, timeout=10)


def test_a_killed_frota_up_leaves_no_process_behind_and_the_next_one_starts(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    ports = free_ports()
    proc = frota_up(var_dir, ports, redis_url)
    try:
        read_until_up(proc)
        part_pids = {p.pid for p in processes_of(var_dir)}
        gunicorns = [p for p in processes_of(var_dir) if "gunicorn" in " ".join(p.cmdline())]
        assert len(gunicorns) >= 8  # 4 masters and their workers
        assert local.running_postmaster(local.pgdata_of(var_dir)).pid in part_pids
        proc.kill()  # SIGKILL, as the OOM killer would: no chance to stop anything
        proc.wait(10)
        # Every child gets its parent-death signal from the kernel: gunicorn masters
        # SIGTERM (they stop their workers), job workers SIGKILL, the postmaster SIGINT.
        wait_until_none_left(var_dir, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        for orphan in processes_of(var_dir):  # only when the assertion above failed
            with contextlib.suppress(psutil.NoSuchProcess):
                orphan.kill()
        proc.communicate(timeout=10)  # close its output pipe (orphans would hold it)
    # The state file it could not remove names a dead process: nothing runs there.
    assert (var_dir / local.STATE_FILE).exists()
    assert local.running_stack(var_dir) is None

    # The next run starts (nothing stale in the way) and reuses the database.
    again = frota_up(var_dir, ports, redis_url)
    try:
        output, banner = read_until_up(again)
        assert "one-time password" not in output
        assert "username 'admin'" in banner
        assert local.running_stack(var_dir).pid == again.pid
    finally:
        code, tail = stop_and_collect(again)
    assert code == 0, tail
    wait_until_none_left(var_dir, timeout=10)


def test_up_refuses_a_taken_port_naming_the_process_before_starting_anything(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    ports = free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["auth"]))
        taken.listen()
        output = refused_start(var_dir, ports, redis_url)
    me = " ".join(psutil.Process().cmdline())
    assert f"port {ports['auth']} (auth) is taken by pid {os.getpid()}: {me[:100]}" in output
    assert "AUTH_PORT" in output
    assert not local.pgdata_of(var_dir).exists()  # no PostgreSQL was started
    assert processes_of(var_dir) == []


def test_up_refuses_an_embedded_postgres_no_frota_up_owns(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    server = local.EmbeddedPostgres(local.pgdata_of(var_dir))
    server.start()
    try:
        output = refused_start(var_dir, free_ports(), redis_url)
        assert f"an embedded PostgreSQL already runs in {local.pgdata_of(var_dir)}" in output
        assert f"(pid {server.pid}) and no frota up owns it" in output
        assert f"its parent is pid {os.getpid()}" in output
        assert f"`kill -INT {server.pid}`" in output
        assert server.exit_code() is None  # left as it was
        assert [p.pid for p in processes_of(var_dir) if "gunicorn" in " ".join(p.cmdline())] == []
    finally:
        server.stop()


def leftover_postgres(pgdata: Path) -> int:
    """An embedded PostgreSQL daemonized by pg_ctl, as `frota up` left it behind before."""
    initialised = local.EmbeddedPostgres(pgdata)
    initialised.start()
    initialised.stop()
    subprocess.run(
        [
            str(local.postgres_bin_dir() / "pg_ctl"),
            *("-D", str(pgdata), "-l", str(pgdata / "pg_ctl.log"), "-w", "-t", "80", "start"),
            *("-o", f"-h '' -k {pgdata}"),
        ],
        user=local.EMBEDDED_SYSTEM_USER if os.geteuid() == 0 else None,
        check=True,
        stdout=subprocess.DEVNULL,  # the daemon would hold a pipe open
        stderr=subprocess.DEVNULL,
        # Seconds on an idle machine; once, on a loaded one, over 30.
        timeout=90,
    )
    postmaster = local.running_postmaster(pgdata)
    assert postmaster is not None
    return postmaster.pid


def test_up_refuses_an_embedded_postgres_left_behind_and_says_how_to_stop_it(tmp_path, redis_url):
    var_dir = tmp_path / "var"
    pid = leftover_postgres(local.pgdata_of(var_dir))
    try:
        output = refused_start(var_dir, free_ports(), redis_url)
        assert f"(pid {pid}) and no frota up owns it" in output
        assert "its parent is gone: it was left behind by an earlier run" in output
        assert f"Stop it with `kill -INT {pid}`" in output
        # The advice works.
        os.kill(pid, signal.SIGINT)
        psutil.Process(pid).wait(30)
        assert local.running_postmaster(local.pgdata_of(var_dir)) is None
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


@pytest.mark.timeout(180)
def test_up_with_redis_down_says_what_is_degraded_and_notices_it_come_back(tmp_path):
    var_dir = tmp_path / "var"
    ports = free_ports()
    redis_process = RedisProcess()  # its port, nothing listening on it yet
    proc = frota_up(var_dir, ports, redis_process.url)
    try:
        _, banner = read_until_up(proc)
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        assert banner.startswith(f"  Frota is up (degraded: Redis is unreachable): {gateway}\n")
        assert f"Redis (127.0.0.1:{redis_process.port}) does not answer" in banner
        assert "rate limits are counted by each gateway worker on its own" in banner
        assert "failed logins are counted only by the auth service, in PostgreSQL" in banner
        assert "revocation loses its fast path" in banner
        assert "/health answers 503" in banner
        health = requests.get(f"{gateway}/health", timeout=10)
        assert health.status_code == 503
        assert health.json()["redis"]["status"] == "down"
        # Served all the same.
        login = requests.post(
            f"{gateway}/api/v1/auth/login",
            json={"username": "admin", "password": "wrong-password"},
            timeout=10,
        )
        assert login.status_code == 401

        with redis_process:
            assert proc.stdout is not None
            deadline = time.monotonic() + 3 * 5  # it checks every 5 s
            while not (line := proc.stdout.readline()).startswith("Redis answers again"):
                assert line, "frota up stopped"
                assert time.monotonic() < deadline, "Redis's return went unnoticed"
            assert line.startswith("Redis answers again: Frota is no longer degraded"), line
            assert requests.get(f"{gateway}/health", timeout=10).status_code == 200
            code, tail = stop_and_collect(proc)
    finally:
        if proc.poll() is None:
            stop_and_collect(proc)
    assert code == 0, tail
    wait_until_none_left(var_dir, timeout=10)


# Answers /health like a healthy gateway: what a server that took the port would say.
IMPOSTOR = """
import http.server, json, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "services": {"auth": {"status": "ok"}},
                           "redis": {"status": "ok"}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_a_health_answer_counts_only_from_the_process_that_holds_the_port(tmp_path):
    port = free_port()
    settings = Settings.from_env(
        {**TEST_SECRETS, "FROTA_VAR_DIR": str(tmp_path), "GATEWAY_PORT": str(port)}
    )
    impostor = subprocess.Popen([sys.executable, "-c", IMPOSTOR, str(port)])
    # Our gateway, still retrying the bind the impostor won.
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stack = Stack(settings, {}, processes={"gateway": ours})
        with pytest.raises(RuntimeError, match="did not find every service ready"):
            stack.wait_until_serving(timeout=2)
        # The same answer from the process that holds the port is believed.
        stack.processes["gateway"] = impostor
        assert stack.wait_until_serving(timeout=5)["status"] == "ok"
    finally:
        for proc in (impostor, ours):
            proc.kill()
            proc.wait(10)
