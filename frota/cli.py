"""`frota`: one command for running and administering the stack."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import click

from frota import database
from frota.stack import APPS, Stack, fresh_metrics_dir, gunicorn_command
from shared.config import ConfigError, Settings

ADMIN_USERNAME = "admin"


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def resolve_database(settings: Settings) -> tuple[Settings, Any]:
    """Use DATABASE_URL, or start the embedded PostgreSQL under var/ when it is unset."""
    if settings.database_url:
        return settings, None
    click.echo(
        f"DATABASE_URL is not set: starting embedded PostgreSQL in {settings.var_dir}/pgdata"
    )
    server, url = database.start_embedded(settings.var_dir / "pgdata")
    return settings.replace(database_url=url), server


@click.group()
def main() -> None:
    """Frota fleet-management backend."""


@main.command()
def migrate() -> None:
    """Run every service's database migrations."""
    settings, server = resolve_database(load_settings())
    database.migrate(settings.database_url or "")
    click.echo("migrations are up to date")
    if server is not None:
        server.cleanup()


@main.command()
def init() -> None:
    """Migrate, then create the first admin if there is none (production start-up job)."""
    settings, server = resolve_database(load_settings())
    try:
        database.migrate(settings.database_url or "")
        ensure_admin(settings)
    finally:
        if server is not None:
            server.cleanup()
    click.echo("database ready")


@main.command()
@click.argument("part", type=click.Choice(list(APPS)))
def serve(part: str) -> None:
    """Run one part of the stack under gunicorn in this process (containers use this)."""
    settings = load_settings()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(settings, part))
    command = gunicorn_command(part, settings)
    os.execv(command[0], command)  # noqa: S606 - replaces this process with gunicorn


@main.command("create-user")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--role", type=click.Choice(["admin", "manager", "driver"]), required=True)
@click.option("--email", default=None)
@click.option("--password", default=None, help="Omit to generate a one-time password.")
def create_user(
    username: str, full_name: str, role: str, email: str | None, password: str | None
) -> None:
    """Create a user who must change the password at first login."""
    from auth_service import service as auth
    from shared.db import Database, make_engine

    settings, server = resolve_database(load_settings())
    db = Database(make_engine(settings.database_url or "", settings))
    try:
        with db.sessionmaker() as session:
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
    finally:
        db.engine.dispose()
        if server is not None:
            server.cleanup()
    click.echo(f"created {role} {user.username} ({user.id})")
    if one_time:
        click.echo(f"one-time password (shown once): {one_time}")


def ensure_admin(settings: Settings) -> None:
    from auth_service import service as auth
    from shared.db import Database, make_engine

    db = Database(make_engine(settings.database_url or "", settings))
    try:
        with db.sessionmaker() as session:
            one_time = auth.ensure_admin(
                db_session=session, username=ADMIN_USERNAME, password=settings.admin_password
            )
    finally:
        db.engine.dispose()
    if one_time:
        click.echo("")
        click.echo(f"  First admin created: username '{ADMIN_USERNAME}'")
        click.echo(f"  one-time password (shown once, change it at first login): {one_time}")
        click.echo("")


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment of the gunicorn processes: ours, plus what `up` resolved."""
    env = dict(os.environ)
    env["DATABASE_URL"] = settings.database_url or ""
    env["FROTA_VAR_DIR"] = str(settings.var_dir)
    env["JWT_SECRET_KEY"] = settings.jwt_secret_key
    env["INTERNAL_SECRET_KEY"] = settings.internal_secret_key
    return env


@main.command()
def up() -> None:
    """Run the whole stack in the foreground; Ctrl-C stops everything."""
    settings, server = resolve_database(load_settings())
    stack = Stack(settings, child_environment(settings))

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (systemd, docker, kill) stops the stack exactly like Ctrl-C. SIGINT
    # is set explicitly too: a shell starting us in the background ignores it.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    exit_code = 0
    try:
        database.migrate(settings.database_url or "")
        ensure_admin(settings)
        settings.media_root.mkdir(parents=True, exist_ok=True)
        stack.start()
        stack.wait_until_healthy()
        click.echo(
            f"Frota is up: http://{settings.bind_host}:{settings.gateway_port} "
            "(health: /health, API: /api/v1/...). Ctrl-C stops it."
        )
        while not (exited := stack.exited()):
            time.sleep(0.5)
        click.echo(f"stopping: process exited unexpectedly: {exited}", err=True)
        exit_code = 1
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        click.echo(f"frota up failed: {exc}", err=True)
        exit_code = 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave orphans.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        click.echo("stopping Frota ...")
        stack.stop()
        if server is not None:
            server.cleanup()
        click.echo("stopped")
    sys.exit(exit_code)
