"""Running the processes of the stack, and stopping them cleanly.

Five serve HTTP under gunicorn (:data:`APPS`); the job workers run one process
each (:data:`WORKERS`).

Used by `frota up` in the foreground and by the end-to-end tests, which start
the same stack on free ports.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import urllib3

from shared.config import WORKER_SERVICES, Settings

# What each process runs, and the kind of gunicorn worker that suits it: the
# gateway streams bodies and waits on upstreams (gevent); the services do
# short database work and keep connections from the gateway alive (gthread), as
# does the web console with its short calls to the API.
APPS = {
    "auth": ("auth_service:create_app()", "gthread"),
    "fleet": ("fleet_service:create_app()", "gthread"),
    "media": ("media_service:create_app()", "gthread"),
    "web": ("web:create_app()", "gthread"),
    "gateway": ("gateway:create_app()", "gevent"),
}
# gunicorn's workers of each kind, answering what gunicorn itself refuses (a bad
# request line, a long URL, too many headers) with the JSON error body.
WORKER_CLASSES = {
    "gthread": "shared.gunicorn_workers.ThreadWorker",
    "gevent": "shared.gunicorn_workers.GeventWorker",
}
# gunicorn's own lines (boot, workers, refusals) in the format of the application's.
LOGGER_CLASSES = {
    "json": "shared.gunicorn_workers.JSONLogger",
    "console": "shared.gunicorn_workers.ConsoleLogger",
}
# The job workers (`frota worker <service>`, shared/jobs.py), by part name.
WORKERS = {f"{service}-worker": service for service in WORKER_SERVICES}
# Every part of the stack, in the order `frota up` starts them.
PARTS = (*APPS, *WORKERS)
# Parts whose liveness probe is /livez: their /health asks others (the gateway's
# asks the services) or they have none (the console's pages need a session, a
# worker serves only /livez and /metrics).
LIVEZ_PARTS = frozenset({"gateway", "web", *WORKERS})
STOP_GRACE_SECONDS = 15
# A worker lets its running jobs finish for up to 20 s (shared.jobs.run_worker).
WORKER_STOP_GRACE_SECONDS = 25
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_this_process(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn that makes a child get ``sig`` when the process starting it dies.

    `frota up` stops its children in order when it is asked to; killed outright
    (SIGKILL, the OOM killer) it cannot, and gunicorn masters would live on,
    answering the next `make up`'s health check. Linux only: elsewhere None.
    Python runs it after switching to Popen's ``user``: a change of user clears
    the setting, so it must come last.
    """
    if sys.platform != "linux":
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_parent_death_signal


def fresh_metrics_dir(settings: Settings, part: str) -> Path:
    """An empty directory for one part's multiprocess metrics (stale files would add up)."""
    directory = settings.var_dir / "metrics" / part
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def port_variable(part: str) -> str:
    """The variable giving ``part`` its port: GATEWAY_PORT, FLEET_WORKER_PORT, ..."""
    return f"{part.upper().replace('-', '_')}_PORT"


def worker_command(part: str) -> list[str]:
    return [sys.executable, "-m", "frota", "worker", WORKERS[part]]


def gunicorn_command(part: str, settings: Settings, workers: int | None = None) -> list[str]:
    app, worker_kind = APPS[part]
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"{settings.bind_host}:{settings.port_of(part)}",
        "--workers",
        str(workers or settings.web_concurrency),
        "--worker-class",
        WORKER_CLASSES[worker_kind],
        "--logger-class",
        LOGGER_CLASSES[settings.log_format],
        # Recycle workers now and then (with jitter, so not all at once) to
        # bound the effect of any slow leak.
        "--max-requests",
        "2000",
        "--max-requests-jitter",
        "200",
        "--graceful-timeout",
        "10",
        "--timeout",
        "60",
        "--keep-alive",
        "30",
        "--no-control-socket",
        "--name",
        f"frota-{part}",
    ]
    if worker_kind == "gthread":
        command += ["--threads", "4"]
    else:
        command += ["--worker-connections", "1000"]
    return command


@dataclass
class Stack:
    """The gunicorn processes of one running stack."""

    settings: Settings
    env: Mapping[str, str]
    # Per-part worker counts overriding WEB_CONCURRENCY (the tests use it).
    workers: Mapping[str, int] = field(default_factory=dict)
    # Per-part additions to ``env``: `frota up` gives each service its own database URL.
    part_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # When set, each part's output goes to ``<log_dir>/<part>.log`` instead of
    # this process's (the tests read them back).
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, parts: tuple[str, ...] = PARTS) -> None:
        for part in parts:
            self.start_part(part)

    def start_part(self, part: str) -> None:
        env = {**self.env, **self.part_env.get(part, {})}
        if part in WORKERS:
            # One process with its own metrics registry: no multiprocess files.
            command = worker_command(part)
        else:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(self.settings, part))
            command = gunicorn_command(part, self.settings, self.workers.get(part))
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{part}.log").open("ab")
        # A session of its own: Ctrl-C reaches `frota up` only, which then
        # stops every process in order instead of all dying at once.
        try:
            self.processes[part] = subprocess.Popen(  # noqa: S603 - our own argv
                command,
                env=env,
                start_new_session=True,
                # Runs in the child between fork and exec: one prctl call, no locks.
                preexec_fn=die_with_this_process(_orphaned_signal(part)),
                stdout=output,
                stderr=output,
            )
        finally:
            if output is not None:
                output.close()  # the child holds its own copy

    def wait_until_healthy(self, timeout: float = 60.0) -> None:
        """Block until every started process answers its liveness probe."""
        deadline = time.monotonic() + timeout
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=0.5, read=2))
        for part in self.processes:
            url = f"http://{self.settings.bind_host}:{self.settings.port_of(part)}"
            url += "/livez" if part in LIVEZ_PARTS else "/health"
            while True:
                self._raise_if_exited(part)
                try:
                    response = http.request("GET", url)
                    if response.status < 500:
                        break
                except urllib3.exceptions.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{part} did not become healthy within {timeout:.0f} s")
                time.sleep(0.1)

    def wait_until_serving(self, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the gateway's /health finds every service ready; return its report.

        /health is 200 only when Redis answers too. Redis down alone does not
        hold this up: the stack serves without it, degraded, and the report
        says so (``report["redis"]["status"] != "ok"``). The answer counts only
        once each of our processes holds its port: a server that took one after
        `frota up` checked it was free would answer in our place while our
        process retries the bind.
        """
        deadline = time.monotonic() + timeout
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=0.5, read=5))
        url = f"http://{self.settings.bind_host}:{self.settings.gateway_port}/health"
        report = None
        while True:
            for part in self.processes:
                self._raise_if_exited(part)
            try:
                # Not kept alive: an idle connection of ours would hold the
                # gateway's graceful stop for its whole timeout.
                response = http.request("GET", url, headers={"Connection": "close"})
                # 200, or 503 with a report of what is down.
                report = response.json() if response.status in (200, 503) else None
            except urllib3.exceptions.HTTPError:
                report = None
            if (
                report is not None
                and all(service["status"] == "ok" for service in report["services"].values())
                and all(self._listens(part) for part in self.processes)
            ):
                return report
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the gateway's /health did not find every service ready within "
                    f"{timeout:.0f} s (last report: {report})"
                )
            time.sleep(0.2)

    def _listens(self, part: str) -> bool:
        """Whether that part's process (gunicorn's master, or a worker) listens on its port."""
        port = self.settings.port_of(part)
        try:
            sockets = psutil.Process(self.processes[part].pid).net_connections("tcp")
        except psutil.Error:
            return False
        return any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets)

    def _raise_if_exited(self, part: str) -> None:
        code = self.processes[part].poll()
        if code is not None:
            raise RuntimeError(f"{part} exited with code {code} while starting")

    def exited(self) -> dict[str, int]:
        """The processes that have stopped, with their exit codes."""
        return {
            part: code for part, proc in self.processes.items() if (code := proc.poll()) is not None
        }

    def stop_part(self, part: str, sig: int = signal.SIGTERM) -> None:
        proc = self.processes[part]
        if proc.poll() is None:
            os.killpg(proc.pid, _stop_signal(part, sig))
        try:
            proc.wait(WORKER_STOP_GRACE_SECONDS if part in WORKERS else STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the gateway first (no new requests), then the services; kill what lingers.

        SIGTERM lets each gunicorn worker finish what it serves (up to the graceful timeout,
        and a kept-alive idle connection holds it that long); SIGQUIT stops them at once.
        A job worker always gets SIGTERM: it finishes its running jobs (an idle one stops
        at once); a job cut short would run again only once its worker's heartbeat is stale.
        """
        for part in sorted(self.processes, key=lambda p: p != "gateway"):
            if self.processes[part].poll() is None:
                os.killpg(self.processes[part].pid, _stop_signal(part, sig))
        for part in self.processes:
            self.stop_part(part, sig)


def _orphaned_signal(part: str) -> int:
    """What a part gets from the kernel when `frota up` is killed outright.

    A job worker is killed too: a graceful stop would wait on its connection pool
    for the embedded PostgreSQL, which is stopping at the same moment; the jobs it
    was running are put back in the queue once its heartbeat is 30 s old.
    """
    return signal.SIGKILL if part in WORKERS else signal.SIGTERM


def _stop_signal(part: str, sig: int) -> int:
    """``sig`` for a gunicorn part; SIGTERM for a job worker (SIGQUIT would dump its core)."""
    return signal.SIGTERM if part in WORKERS else sig
