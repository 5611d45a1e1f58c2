"""`frota`: one command for running and administering the stack."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import click
import psycopg2
import redis

from frota import backup as backups
from frota import database, local, roles
from frota import status as stack_status
from frota.pg_tools import ClientNotFound
from frota.stack import APPS, PARTS, WORKERS, Stack, fresh_metrics_dir, gunicorn_command
from media_service.commands import media
from shared.config import SERVICES, WORKER_SERVICES, ConfigError, Settings
from shared.logs import configure_logging
from shared.roles import ROLE_NAMES

ADMIN_USERNAME = "admin"
# While Redis is down, `frota up` checks this often whether it is back.
REDIS_RECHECK_SECONDS = 5


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def resolve_database(settings: Settings) -> tuple[Settings, local.EmbeddedPostgres | None]:
    """Use DATABASE_URL; when it is unset, the embedded PostgreSQL under var/.

    That is the one already running there (a `frota up`'s), else one started
    for this command: returned, for the caller to stop. In production
    DATABASE_URL is required, with a strong password.
    """
    try:
        settings.check_owner_database()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.database_url:
        return settings, None
    pgdata = local.pgdata_of(settings.var_dir)
    running = local.embedded_database_url(settings.var_dir)
    if running is not None:
        click.echo(
            f"DATABASE_URL is not set: using the embedded PostgreSQL already running in {pgdata}"
        )
        return settings.replace(database_url=running), None
    click.echo(f"DATABASE_URL is not set: starting embedded PostgreSQL in {pgdata}")
    server = local.EmbeddedPostgres(pgdata)
    server.start()
    return settings.replace(database_url=server.url()), server


@contextmanager
def owner_database(settings: Settings) -> Iterator[Settings]:
    """``settings`` with the owner's ``database_url``, for the length of one command.

    Every command that needs the database goes through here (:func:`resolve_database`):
    DATABASE_URL, else the embedded PostgreSQL already running in var/pgdata, else
    one started for the command and stopped after it.
    """
    settings, server = resolve_database(settings)
    try:
        yield settings
    finally:
        if server is not None:
            server.stop()
            click.echo(f"stopped the embedded PostgreSQL in {local.pgdata_of(settings.var_dir)}")


def open_owner_database() -> AbstractContextManager[Settings]:
    """What `frota media ...` opens its database with (it may not import frota itself)."""
    return owner_database(load_settings())


@contextmanager
def owner_session(settings: Settings) -> Iterator[Any]:
    """A session on ``settings.database_url``; its engine is disposed of after."""
    from shared.db import Database, make_engine

    db = Database(make_engine(settings.database_url or "", settings))
    try:
        with db.sessionmaker() as session:
            yield session
    finally:
        db.engine.dispose()


def prepare_database(settings: Settings) -> list[roles.ServiceRole]:
    """Migrate as the owner, then give each service its own role; return the roles."""
    service_roles = service_roles_of(settings)  # refuses missing passwords before any change
    database.migrate(settings.database_url or "")
    provision_roles(settings, service_roles)
    return service_roles


def service_roles_of(settings: Settings) -> list[roles.ServiceRole]:
    try:
        return roles.service_roles(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def provision_roles(settings: Settings, service_roles: list[roles.ServiceRole]) -> None:
    try:
        roles.provision_service_roles(settings.database_url or "", service_roles)
    except psycopg2.Error as exc:
        raise click.ClickException(
            f"could not set up the service database roles: {str(exc).strip()} "
            "(the DATABASE_URL role needs the CREATEROLE attribute)"
        ) from None


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Frota fleet-management backend."""
    ctx.obj = open_owner_database  # see media_service.commands


main.add_command(media)


@main.command()
def migrate() -> None:
    """Run every service's database migrations and set up the service roles."""
    with owner_database(load_settings()) as settings:
        prepare_database(settings)
    click.echo("migrations are up to date; service roles are set up")


@main.command()
def init() -> None:
    """Migrate, then create the first admin if there is none (production start-up job)."""
    with owner_database(load_settings()) as settings:
        prepare_database(settings)
        one_time = ensure_admin(settings)
    if one_time:
        # The compose stack's operator reads it in `docker compose logs migrate`.
        click.echo(f"First admin created: username '{ADMIN_USERNAME}'")
        click.echo(f"one-time password (shown once, change it at first login): {one_time}")
    click.echo("database ready")


@main.command()
@click.argument("part", type=click.Choice(list(APPS)))
def serve(part: str) -> None:
    """Run one part of the stack under gunicorn in this process (containers use this)."""
    settings = load_settings()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(settings, part))
    command = gunicorn_command(part, settings)
    os.execv(command[0], command)  # noqa: S606 - replaces this process with gunicorn


@main.command()
@click.argument("service", type=click.Choice(WORKER_SERVICES))
def worker(service: str) -> None:
    """Run one service's job worker in this process (until SIGTERM or Ctrl-C)."""
    settings = load_settings()
    configure_logging(f"{service}-worker", settings.log_level, settings.log_format)
    importlib.import_module(f"{service}_service.jobs").main(settings)


@main.command("create-user")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--role", type=click.Choice(ROLE_NAMES), required=True)
@click.option("--email", default=None)
@click.option("--password", default=None, help="Omit to generate a one-time password.")
def create_user(
    username: str, full_name: str, role: str, email: str | None, password: str | None
) -> None:
    """Create a user who must change the password at first login."""
    from auth_service import service as auth

    with owner_database(load_settings()) as settings, owner_session(settings) as session:
        try:
            user, one_time = auth.create_user(
                db_session=session,
                username=username,
                full_name=full_name,
                role=role,
                email=email,
                password=password,
            )
        except Exception as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {user.username} ({user.id})")
    if one_time:
        click.echo(f"one-time password (shown once): {one_time}")


@main.command("unlock-user")
@click.argument("username")
def unlock_user(username: str) -> None:
    """Clear USERNAME's login lockouts and slow-downs, from every address (audited)."""
    from auth_service import service as auth
    from shared.errors import APIError

    with owner_database(load_settings()) as settings, owner_session(settings) as session:
        try:
            user = auth.unlock_user(db_session=session, username=username)
        except APIError as exc:
            raise click.ClickException(f"{exc.message}: {username}") from None
    click.echo(f"unlocked {user.username} ({user.id}): it may log in again from every address")


def ensure_admin(settings: Settings) -> str | None:
    """Create the first admin unless an admin exists; return its one-time password if generated."""
    from auth_service import service as auth
    from shared.db import Database, make_engine

    db = Database(make_engine(settings.database_url or "", settings))
    try:
        with db.sessionmaker() as session:
            return auth.ensure_admin(
                db_session=session, username=ADMIN_USERNAME, password=settings.admin_password
            )
    finally:
        db.engine.dispose()


# What no process of the stack gets from `up`: the owner's connection and the
# role passwords. Each service gets its own <SERVICE>_DATABASE_URL instead.
OWNER_ONLY_VARIABLES = ("DATABASE_URL", *(f"{s.upper()}_DB_PASSWORD" for s in SERVICES))


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment every process of the stack shares: ours, plus what `up` resolved."""
    env = {k: v for k, v in os.environ.items() if k not in OWNER_ONLY_VARIABLES}
    env["FROTA_VAR_DIR"] = str(settings.var_dir)
    # Decided once, here: every part logs as `frota up` was asked to (or found its terminal).
    env["LOG_FORMAT"] = settings.log_format
    env["JWT_SECRET_KEY"] = settings.jwt_secret_key
    env["INTERNAL_SECRET_KEY"] = settings.internal_secret_key
    return env


def part_environments(
    settings: Settings, service_roles: list[roles.ServiceRole]
) -> dict[str, Mapping[str, str]]:
    """Each service's own database URL (as its own role), for its server and its job
    worker; the gateway and the console get none."""
    urls = roles.service_database_urls(settings.database_url or "", service_roles)
    services = {service: service for service in urls} | WORKERS
    return {
        part: {f"{service.upper()}_DATABASE_URL": urls[service]}
        for part, service in services.items()
    }


@main.command()
def up() -> None:
    """Run the whole stack in the foreground; Ctrl-C stops everything."""
    settings = load_settings()
    try:
        settings.check_owner_database()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    # Held until this process ends, however it ends: the kernel lets go of it.
    lock = take_var_dir(settings)
    if problems := local.obstacles(settings):
        lock.close()
        raise click.ClickException(
            "frota up did not start anything:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    stack = Stack(settings, child_environment(settings))
    server: local.EmbeddedPostgres | None = None

    stop_on_signals(True)
    exit_code = 0
    try:
        if settings.database_url is None:
            pgdata = local.pgdata_of(settings.var_dir)
            click.echo(f"starting embedded PostgreSQL in {shown(pgdata)}")
            server = local.EmbeddedPostgres(pgdata)
            server.start()
            settings = settings.replace(database_url=server.url())
        stack.part_env = part_environments(settings, prepare_database(settings))
        one_time = ensure_admin(settings)
        settings.media_root.mkdir(parents=True, exist_ok=True)
        click.echo("starting " + ", ".join(f"{p} (:{settings.port_of(p)})" for p in PARTS))
        stack.start()
        record_state(settings, stack, server)
        report = stack.wait_until_serving()
        # The gateway's /health does not ask the workers: their own /livez.
        stack.wait_until_healthy()
        redis_down = report["redis"]["status"] != "ok"
        click.echo(banner(settings, one_time, server, redis_down))
        exited = watch(settings, stack, server, redis_down)
        click.echo(f"stopping: process exited unexpectedly: {exited}", err=True)
        exit_code = 1
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        click.echo(f"frota up failed: {exc}", err=True)
        exit_code = 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave orphans.
        stop_on_signals(False)
        click.echo("stopping Frota ...")
        stack.stop()
        if server is not None:
            server.stop()
        local.remove_state(settings.var_dir)
        lock.close()
        click.echo("stopped")
    sys.exit(exit_code)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_signals(stopping: bool) -> None:
    """Make SIGTERM, SIGHUP and SIGINT stop the stack (``stopping``), or be ignored.

    SIGTERM (systemd, docker, kill) and SIGHUP (the terminal closed) stop it
    exactly like Ctrl-C. SIGINT is set explicitly too: a shell starting us in
    the background ignores it.
    """
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _interrupt if stopping else signal.SIG_IGN)


def record_state(settings: Settings, stack: Stack, server: local.EmbeddedPostgres | None) -> None:
    """Write var/frota-up.json: what this `frota up` runs, for `frota status` and others."""
    local.write_state(
        settings.var_dir,
        local.RunningStack.of_this_process(
            url=gateway_url(settings),
            ports={part: settings.port_of(part) for part in PARTS},
            parts={part: process.pid for part, process in stack.processes.items()},
            postgres_pid=server.pid if server is not None else None,
            log_format=settings.log_format,
        ),
    )


def watch(
    settings: Settings, stack: Stack, server: local.EmbeddedPostgres | None, redis_down: bool
) -> dict[str, int]:
    """Block until a process of the stack exits on its own; return which, with its code.

    Meanwhile, with Redis down, say so once it answers again.
    """
    next_redis_check = time.monotonic()
    while not (exited := stack.exited()):
        if server is not None and (code := server.exit_code()) is not None:
            return {"embedded PostgreSQL": code}
        time.sleep(0.5)
        if redis_down and time.monotonic() >= next_redis_check:
            next_redis_check = time.monotonic() + REDIS_RECHECK_SECONDS
            if redis_answers(settings):
                redis_down = False
                click.echo("Redis answers again: Frota is no longer degraded (/health is 200)")
    return exited


def take_var_dir(settings: Settings) -> IO[str]:
    """The var dir's `frota up` lock, or a refusal naming the `frota up` that holds it."""
    try:
        return local.lock_var_dir(settings.var_dir)
    except local.AlreadyRunning as running:
        stack = local.running_stack(settings.var_dir)
        since = f", up since {stack.started_at} at {stack.url}" if stack is not None else ""
        raise click.ClickException(
            f"another frota up (pid {running.pid}{since}) is running on {shown(settings.var_dir)}; "
            f"nothing was started. Use that one (`frota status`), or stop it first "
            f"(Ctrl-C in its terminal, or `kill {running.pid}`)."
        ) from None


def gateway_url(settings: Settings) -> str:
    return f"http://{settings.bind_host}:{settings.gateway_port}"


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies under it (var/pgdata)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def banner(
    settings: Settings,
    one_time: str | None,
    server: local.EmbeddedPostgres | None,
    redis_down: bool,
) -> str:
    """What an operator needs once the stack serves, printed after the boot lines."""
    url = gateway_url(settings)
    admin = f"username '{ADMIN_USERNAME}'"
    if one_time:
        admin += f", one-time password (shown once, change it at first login): {one_time}"
    database = (
        f"embedded PostgreSQL in {shown(server.pgdata)}"
        if server is not None
        else "the PostgreSQL of DATABASE_URL"
    )
    state = " (degraded: Redis is unreachable)" if redis_down else ""
    lines = [
        "",
        f"  Frota is up{state}: {url}",
        f"    console   {url}/   (sign in as the admin below)",
        f"    API       {url}/api/v1/...   health: {url}/health",
        f"    admin     {admin}",
        f"    database  {database}; media files in {shown(settings.media_root)}",
        "  Ctrl-C stops it.",
        "",
    ]
    if redis_down:
        lines[-2:-2] = redis_degradation(settings)
    return "\n".join(lines)


def redis_answers(settings: Settings) -> bool:
    """A ping straight to Redis: asking /health would print access lines every few seconds."""
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def redis_address(url: str) -> str:
    """Where REDIS_URL points, without the password it may carry."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path


def redis_degradation(settings: Settings) -> list[str]:
    """What the stack does without Redis (gateway/limits.py, gateway/revocation.py)."""
    return [
        f"  Redis ({redis_address(settings.redis_url)}) does not answer. Until it does:",
        "    - rate limits are counted by each gateway worker on its own, not shared: a client",
        f"      may get {settings.web_concurrency} x {settings.rate_limit_default} "
        "(WEB_CONCURRENCY x RATE_LIMIT_DEFAULT);",
        "    - failed logins are counted only by the auth service, in PostgreSQL: the login",
        "      limit and the lockouts still hold;",
        "    - revocation loses its fast path: the gateway asks the auth service about each",
        "      token (reusing an answer 1 s at most), so a logout still takes effect in a second;",
        "    - /health answers 503: a load balancer or a deploy waiting on it sees Frota down.",
        "  Start Redis (`redis-server`, or `sudo systemctl start redis-server`); Frota uses it",
        "  again by itself.",
    ]


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the backup (default: BACKUP_DIR, else backups/).",
)
def backup(directory: Path | None) -> None:
    """Back up the database and the media files; delete backups older than BACKUP_KEEP_DAYS."""
    with owner_database(load_settings()) as settings:
        directory = directory or settings.backup_dir
        try:
            summary = backups.create_backup(
                database_url=settings.database_url or "",
                media_root=settings.media_root,
                directory=directory,
            )
            removed = backups.prune_backups(directory, settings.backup_keep_days)
        except (backups.BackupError, ClientNotFound, psycopg2.Error, OSError) as exc:
            raise click.ClickException(f"backup failed: {exc}") from None
    made = summary.backup
    click.echo(f"backup written: {made.dump}, {made.media} ({summary.media_files} media files)")
    click.echo(f"manifest: {made.manifest}")
    if summary.missing_media:
        click.echo(
            f"warning: {len(summary.missing_media)} media rows had no file on disk "
            f"(run `frota media reconcile`): {', '.join(summary.missing_media)}",
            err=True,
        )
    for name in removed:
        click.echo(f"deleted {name} (older than {settings.backup_keep_days} days)")


@main.command("verify-backup")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify_backup(file: Path) -> None:
    """Check a backup against its manifest (every byte), changing nothing."""
    try:
        manifest = backups.verify_backup(backups.Backup.at(file))
    except backups.BackupError as exc:
        raise click.ClickException(f"backup refused: {exc}") from None
    click.echo(
        f"backup {manifest['name']} is intact ({len(manifest['media']['files'])} media files)"
    )


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(file: Path, yes: bool) -> None:
    """Replace the database and the media files with a backup's (FILE: any file of it).

    The backup is checked against its manifest first; a damaged or altered
    backup is refused before anything changes. The services must be stopped
    first (a `frota up` on this var dir, or the containers): restore refuses
    while they run.
    """
    settings = load_settings()
    stack = local.running_stack(settings.var_dir)
    if stack is not None and stack.postgres_pid is not None and not settings.database_url:
        raise click.ClickException(
            f"frota up (pid {stack.pid}) is running on this database: stop it first "
            "(Ctrl-C in its terminal), then restore; nothing was changed"
        )
    try:
        backup_set = backups.Backup.at(file)
        manifest = backups.verify_backup(backup_set)
    except backups.BackupError as exc:
        raise click.ClickException(f"backup refused, nothing was changed: {exc}") from None
    click.echo(
        f"backup {backup_set.name} is intact ({len(manifest['media']['files'])} media files)"
    )
    if not yes:
        click.confirm(
            "This replaces the auth, fleet and media schemas and the media files "
            f"in {settings.media_root}. Continue?",
            abort=True,
        )
    service_roles = service_roles_of(settings)
    with owner_database(settings) as settings:
        refuse_while_services_are_connected(settings, service_roles)
        try:
            backups.restore_backup(
                backup=backup_set,
                manifest=manifest,
                database_url=settings.database_url or "",
                media_root=settings.media_root,
            )
            # The dump carries no grants (so it restores on any server): grant again.
            provision_roles(settings, service_roles)
        except (backups.BackupError, ClientNotFound, psycopg2.Error, OSError) as exc:
            raise click.ClickException(f"restore failed: {exc}") from None
    click.echo(f"restored {backup_set.name}")


def refuse_while_services_are_connected(
    settings: Settings, service_roles: list[roles.ServiceRole]
) -> None:
    """A restore under running services would mix their writes with the backup's rows."""
    connected = roles.connected_roles(settings.database_url or "", service_roles)
    if connected:
        sessions = ", ".join(f"{name}: {count}" for name, count in sorted(connected.items()))
        raise click.ClickException(
            f"the services are still connected to the database ({sessions} sessions): stop "
            "them first (`docker compose stop gateway auth fleet media fleet-worker "
            "media-worker`, or Ctrl-C the frota up using it), then restore; nothing was changed"
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, for scripts.")
def status(as_json: bool) -> None:
    """What runs and answers, the database, the media volume, the last backup, the next prune.

    Starts nothing. Exits with status 1 when something is down (or not running).
    """
    report = stack_status.collect(load_settings())
    click.echo(report.as_json() if as_json else stack_status.render(report))
    if not report.ok:
        raise SystemExit(1)
