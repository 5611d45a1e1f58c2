"""A job worker (`frota worker <service>`) as a process of the test's own, on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.processes import free_port

START_TIMEOUT_SECONDS = 30
# procrastinate waits up to its graceful timeout (20 s) for running jobs; an idle worker
# stops at once.
STOP_TIMEOUT_SECONDS = 25


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    url: str  # its /livez and /metrics
    log: Path

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of the worker's /metrics (0 when it has none yet)."""
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        for line in requests.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == (f"{name}{{{wanted}}}" if labels else name):
                return float(value)
        return 0.0


@contextmanager
def running_worker(service: str, env: Mapping[str, str], log_dir: Path) -> Iterator[Worker]:
    """``frota worker <service>`` with ``env`` (over this process's), once its /livez is 200.

    Stopped with SIGTERM after the block, which must end it cleanly (exit code 0).
    """
    port = free_port()
    log = log_dir / f"{service}-worker.log"
    variable = f"{service.upper()}_WORKER_PORT"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "frota", "worker", service],
            env={**os.environ, **env, variable: str(port)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_live(worker)
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text(errors="replace")


def _wait_until_live(worker: Worker) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if worker.process.poll() is not None:
            raise AssertionError(f"the worker exited:\n{worker.log.read_text(errors='replace')}")
        try:
            if requests.get(f"{worker.url}/livez", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no /livez 200:\n{worker.log.read_text(errors='replace')}")
        time.sleep(0.1)
