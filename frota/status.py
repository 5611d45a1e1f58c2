"""`frota status`: what runs, whether it answers, where the data is and how full.

The questions the seed guide answers with `docker compose ps`, `df -h` and
`ls backups/`, for a local run: each part of the stack (from the state file
`frota up` keeps, see :mod:`frota.local`) and each job worker's /livez, the
gateway's /health, the database and its size, the job queues, the media volume
against its quota and its filesystem, the last backup and the next prune. It
only reads: it starts nothing, not even the embedded PostgreSQL (a stopped one
is reported as such).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import urllib3
from sqlalchemy.engine import make_url

from frota import local
from frota.backup import BACKUP_FILE, Backup
from frota.stack import PARTS, WORKERS
from shared.config import WORKER_SERVICES, Settings

MB = 1024 * 1024
HEALTH_TIMEOUT = urllib3.Timeout(connect=1.0, read=5.0)
DATABASE_TIMEOUT_SECONDS = 3


@dataclass
class Part:
    port: int
    running: bool
    pid: int | None = None
    workers: int | None = None  # gunicorn's; None for a job worker
    # A running job worker's /livez: "ok", "down" (its queue unread for a minute), or
    # "no answer".
    livez: str | None = None
    # Who holds the port when the part is not running (an orphan, another program).
    port_taken_by: str | None = None


@dataclass
class Report:
    """Everything `frota status` says; ``--json`` prints it as it is."""

    running: bool
    url: str
    frota_up: dict[str, Any] | None
    parts: dict[str, Part]
    health: dict[str, Any]
    database: dict[str, Any]
    queues: dict[str, Any]
    media: dict[str, Any]
    backup: dict[str, Any]
    prune: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> str:
        return json.dumps({"ok": self.ok, **asdict(self)}, indent=2, default=str)


def collect(settings: Settings) -> Report:
    """Look at the stack of ``settings`` (its var dir, ports, database, volume, backups)."""
    now = time.time()
    stack = local.running_stack(settings.var_dir)
    url = stack.url if stack else f"http://{settings.bind_host}:{settings.gateway_port}"
    parts = _parts(settings, stack)
    health = _health(url)
    database, facts = _database(settings, stack)
    usage = facts.get("usage")
    report = Report(
        running=stack is not None,
        url=url,
        frota_up=_frota_up(stack, now),
        parts=parts,
        health=health,
        database=database,
        queues=facts.get("queues", {}),
        media=_media(settings, usage),
        backup=_last_backup(settings.backup_dir, now),
        prune=_prune(settings, usage, stack is not None, now),
    )
    if stack is None:
        report.problems.append("not running")
        return report
    report.problems += [f"{name} is not running" for name, p in parts.items() if not p.running]
    report.problems += [
        f"{name} /livez {p.livez}" for name, p in parts.items() if p.livez not in (None, "ok")
    ]
    if health["http_status"] != 200:
        report.problems.append(f"/health {health['status']}")
    if database["status"] != "ok":
        report.problems.append(f"database {database['status']}")
    return report


def _frota_up(stack: local.RunningStack | None, now: float) -> dict[str, Any] | None:
    if stack is None:
        return None
    started = datetime.fromisoformat(stack.started_at)
    return {
        "pid": stack.pid,
        "started_at": stack.started_at,
        "age_seconds": round(now - started.timestamp()),
        "log_format": stack.log_format,
    }


def _parts(settings: Settings, stack: local.RunningStack | None) -> dict[str, Part]:
    parts = {}
    for name in PARTS:
        # A state file of an older `frota up` may name no workers.
        port = stack.ports.get(name, settings.port_of(name)) if stack else settings.port_of(name)
        running = _running_part(port, stack.parts.get(name)) if stack else None
        if running is not None:
            if name in WORKERS:
                running.workers = None
                running.livez = _livez(settings.bind_host, port)
            parts[name] = running
            continue
        part = Part(port, False)
        if local.port_is_taken(settings.bind_host, port):
            part.port_taken_by = local.process_description(local.listener_of(port))
        parts[name] = part
    return parts


def _running_part(port: int, master_pid: int | None) -> Part | None:
    """The part whose gunicorn master is ``master_pid``, with its workers; None if it is gone."""
    if master_pid is None:
        return None
    try:
        master = psutil.Process(master_pid)
        if master.status() == psutil.STATUS_ZOMBIE:
            return None
        return Part(port, True, master_pid, len(master.children()))
    except psutil.Error:
        return None


def _livez(host: str, port: int) -> str:
    http = urllib3.PoolManager(retries=False, timeout=HEALTH_TIMEOUT)
    try:
        response = http.request("GET", f"http://{host}:{port}/livez")
    except urllib3.exceptions.HTTPError:
        return "no answer"
    finally:
        http.clear()
    return "ok" if response.status == 200 else "down"


def _health(url: str) -> dict[str, Any]:
    """The gateway's /health: its status, and each dependency's as the gateway sees it."""
    http = urllib3.PoolManager(retries=False, timeout=HEALTH_TIMEOUT)
    try:
        response = http.request("GET", f"{url}/health", headers={"Connection": "close"})
    except urllib3.exceptions.HTTPError as exc:
        return {"http_status": None, "status": f"no answer ({type(exc).__name__})"}
    finally:
        http.clear()
    try:
        body = json.loads(response.data)
    except ValueError:
        body = {}
    dependencies = {**body.get("services", {})}
    if "redis" in body:
        dependencies["redis"] = body["redis"]
    return {
        "http_status": response.status,
        "status": body.get("status", f"HTTP {response.status}"),
        "dependencies": dependencies,
    }


def _database(
    settings: Settings, stack: local.RunningStack | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Where the database is, whether it answers and its size; and what it says of the
    media volume and the job queues (:func:`_read_facts`), when it answers."""
    if settings.database_url:
        url = settings.database_url
        where = f"DATABASE_URL {make_url(url).set(password=None).render_as_string()}"
        info: dict[str, Any] = {"where": where, "embedded": False}
    else:
        pgdata = local.pgdata_of(settings.var_dir)
        postmaster = local.running_postmaster(pgdata)
        info = {
            "where": f"embedded PostgreSQL in {pgdata}",
            "embedded": True,
            "pid": postmaster.pid if postmaster else None,
        }
        found = local.embedded_database_url(settings.var_dir)
        if found is None:
            return {**info, "status": "not running"}, {}
        url = found
    try:
        conn = psycopg2.connect(url, connect_timeout=DATABASE_TIMEOUT_SECONDS)
    except psycopg2.Error as exc:
        return {**info, "status": f"unreachable ({str(exc).strip().splitlines()[0]})"}, {}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_database_size(current_database())")
            (size,) = cur.fetchone()
            facts = _read_facts(cur)
    except psycopg2.Error as exc:
        # Not migrated up to date (the stack was never started with this version).
        return {**info, "status": f"error ({str(exc).strip().splitlines()[0]})"}, {}
    finally:
        conn.close()
    return {**info, "status": "ok", "size_bytes": size}, facts


# A queue's jobs by state: due (waiting for a worker), scheduled later (retries, mostly),
# running, and failed (kept EVENTS_KEEP_DAYS); how long the oldest due one has waited.
QUEUE_QUERY = """
    SELECT count(*) FILTER (WHERE status = 'todo' AND coalesce(scheduled_at, now()) <= now()),
           count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()),
           count(*) FILTER (WHERE status = 'doing'),
           count(*) FILTER (WHERE status = 'failed'),
           extract(epoch FROM now() - min(scheduled_at)
                   FILTER (WHERE status = 'todo' AND scheduled_at <= now()))
    FROM {schema}.procrastinate_jobs
"""


def _read_facts(cur: Any) -> dict[str, Any]:
    """The media usage row, and each job queue's counts (of the schemas migrated so far)."""
    facts: dict[str, Any] = {"usage": None, "queues": {}}
    cur.execute("SELECT to_regclass('media.usage') IS NOT NULL")
    if cur.fetchone()[0]:
        cur.execute(
            "SELECT used_bytes, reserved_bytes, last_pruned_at, last_prune_files,"
            " last_prune_bytes, (SELECT count(*) FROM media.files"
            " WHERE deleting_at IS NULL) FROM media.usage"
        )
        row = cur.fetchone()
        names = ("used", "reserved", "pruned_at", "pruned_files", "pruned_bytes", "files")
        facts["usage"] = dict(zip(names, row, strict=True)) if row else None
    for service in WORKER_SERVICES:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{service}.procrastinate_jobs",))
        if cur.fetchone()[0]:
            # The schema is one of WORKER_SERVICES' names, not input.
            cur.execute(QUEUE_QUERY.format(schema=service))
            due, scheduled, running, failed, oldest = cur.fetchone()
            facts["queues"][service] = {
                "due": due,
                "scheduled": scheduled,
                "running": running,
                "failed": failed,
                "oldest_due_seconds": round(oldest or 0),
            }
    return facts


def _media(settings: Settings, usage: dict[str, Any] | None) -> dict[str, Any]:
    """The volume against its quota (from the database) and its filesystem's free space."""
    media: dict[str, Any] = {
        "path": str(settings.media_root),
        "quota_bytes": settings.media_quota_mb * MB,
        "used_bytes": usage["used"] if usage else None,
        "reserved_bytes": usage["reserved"] if usage else None,
        "files": usage["files"] if usage else None,
    }
    # The volume may not exist before the first `frota up`: its filesystem is the parent's.
    existing = next(p for p in (settings.media_root, *settings.media_root.parents) if p.exists())
    disk = shutil.disk_usage(existing)
    media["filesystem_free_bytes"] = disk.free
    media["filesystem_total_bytes"] = disk.total
    return media


def _last_backup(directory: Path, now: float) -> dict[str, Any]:
    """The newest complete backup in ``directory`` (its manifest is written last)."""
    names = sorted(
        match["name"]
        for path in (directory.iterdir() if directory.is_dir() else ())
        if (match := BACKUP_FILE.fullmatch(path.name)) and path.name.endswith(".manifest.json")
    )
    if not names:
        return {"directory": str(directory), "name": None}
    backup = Backup(directory, names[-1])
    files = (backup.dump, backup.media, backup.manifest)
    return {
        "directory": str(directory),
        "name": backup.name,
        "created_at": backup.created_at.isoformat(),
        "age_seconds": round(now - backup.created_at.timestamp()),
        "size_bytes": sum(f.stat().st_size for f in files if f.exists()),
    }


def _prune(
    settings: Settings, usage: dict[str, Any] | None, running: bool, now: float
) -> dict[str, Any]:
    """The last prune (recorded on the usage row) and the next scheduled one.

    The media worker prunes on multiples of the interval since midnight UTC
    (:func:`shared.jobs.cron_every`), which are multiples since the epoch too, while
    the stack runs.
    """
    minutes = settings.media_prune_interval_minutes
    prune: dict[str, Any] = {"interval_minutes": minutes, "last_at": None, "next_at": None}
    if usage and usage["pruned_at"] is not None:
        prune["last_at"] = usage["pruned_at"].isoformat()
        prune["last_age_seconds"] = round(now - usage["pruned_at"].timestamp())
        prune["last_files"] = usage["pruned_files"]
        prune["last_bytes"] = usage["pruned_bytes"]
    if minutes > 0 and running:
        period = minutes * 60
        next_at = math.floor(now / period + 1) * period
        prune["next_at"] = datetime.fromtimestamp(next_at, UTC).isoformat()
        prune["next_in_seconds"] = round(next_at - now)
    return prune


# --- as text --------------------------------------------------------------------------


def render(report: Report) -> str:
    """The report as aligned plain text, one subject a line."""
    lines = []
    if report.frota_up:
        up = report.frota_up
        lines.append(
            f"frota up   running at {report.url} (pid {up['pid']}, "
            f"up {_duration(up['age_seconds'])}, log format {up['log_format']})"
        )
    else:
        lines.append(f"frota up   not running (its gateway would be at {report.url})")
    for name, part in report.parts.items():
        if part.running and part.workers is None:
            state = f"pid {part.pid:<7} /livez {part.livez}"
        elif part.running:
            state = f"pid {part.pid:<7} {part.workers} worker{'s' if part.workers != 1 else ''}"
        else:
            state = "not running"
            if part.port_taken_by:
                state += f"; port {part.port} is taken by {part.port_taken_by}"
        lines.append(f"  {name:<12} port {part.port:<6} {state}")
    lines.append(f"health     {_health_line(report.health)}")
    lines.append(f"database   {_database_line(report.database)}")
    lines.append(f"queues     {_queues_line(report.queues)}")
    lines.append(f"media      {_media_line(report.media)}")
    lines.append(f"backup     {_backup_line(report.backup)}")
    lines.append(f"prune      {_prune_line(report.prune)}")
    lines.append("status     ok" if report.ok else f"status     DOWN: {'; '.join(report.problems)}")
    return "\n".join(lines)


def _health_line(health: dict[str, Any]) -> str:
    if health["http_status"] is None:
        return f"/health {health['status']}"
    dependencies = ", ".join(
        f"{name} {dep.get('status')}" for name, dep in health.get("dependencies", {}).items()
    )
    line = f"/health {health['http_status']} {health['status']}"
    return f"{line}: {dependencies}" if dependencies else line


def _database_line(database: dict[str, Any]) -> str:
    line = database["where"]
    if database.get("pid"):
        line += f" (pid {database['pid']})"
    if database["status"] != "ok":
        return f"{line}: {database['status']}"
    return f"{line}: {_bytes(database['size_bytes'])}"


def _queues_line(queues: dict[str, Any]) -> str:
    if not queues:
        return "unknown (database not reachable)"
    return "; ".join(
        f"{service} {q['due']} due (oldest {_duration(q['oldest_due_seconds'])}), "
        f"{q['scheduled']} scheduled, {q['running']} running, {q['failed']} failed"
        for service, q in queues.items()
    )


def _media_line(media: dict[str, Any]) -> str:
    line = f"{media['path']}: "
    if media["used_bytes"] is None:
        line += "usage unknown (database not reachable)"
    else:
        share = media["used_bytes"] / media["quota_bytes"] * 100
        line += (
            f"{_bytes(media['used_bytes'])} used of {_bytes(media['quota_bytes'])} quota "
            f"({share:.1f} %), {media['files']} files"
        )
    free, total = media["filesystem_free_bytes"], media["filesystem_total_bytes"]
    return f"{line}; filesystem {_bytes(free)} free of {_bytes(total)}"


def _backup_line(backup: dict[str, Any]) -> str:
    if backup["name"] is None:
        return f"none in {backup['directory']}"
    return (
        f"{backup['name']} in {backup['directory']}, "
        f"{_duration(backup['age_seconds'])} old ({_bytes(backup['size_bytes'])})"
    )


def _prune_line(prune: dict[str, Any]) -> str:
    minutes = prune["interval_minutes"]
    line = f"every {minutes} min" if minutes > 0 else "never by itself (interval 0)"
    if prune["last_at"]:
        line += (
            f"; last {_duration(prune['last_age_seconds'])} ago "
            f"(deleted {prune['last_files']} files, {_bytes(prune['last_bytes'])})"
        )
    else:
        line += "; no prune recorded yet"
    if prune["next_at"]:
        line += f"; next in {_duration(prune['next_in_seconds'])}"
    return line


def _bytes(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", MB), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _duration(seconds: int) -> str:
    seconds = max(seconds, 0)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
