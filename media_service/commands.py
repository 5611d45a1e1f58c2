"""`frota media ...`: maintenance of the media volume from the command line."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import click
import sqlalchemy as sa

from media_service.prune_job import prune_lock
from media_service.pruning import BATCH_SIZE, prune_media
from media_service.reconcile import reconcile_volume
from media_service.storage import LocalStorage
from shared.config import Settings
from shared.db import Database, make_engine

MB = 1024 * 1024
# Opens the database for one command: the settings with its database_url.
OpenDatabase = Callable[[], AbstractContextManager[Settings]]


@click.group("media")
def media() -> None:
    """Media volume maintenance: retention pruning and reconciliation."""


@contextmanager
def _media_volume() -> Iterator[tuple[Settings, Database, LocalStorage]]:
    """The settings, database and volume a command works on.

    The `frota` command, which registers this group, puts in ``ctx.obj`` how
    to open the database for the length of a command (DATABASE_URL, else the
    embedded PostgreSQL of var/pgdata): a service does not import frota.
    """
    open_database: OpenDatabase = click.get_current_context().obj
    with open_database() as settings:
        database = Database(make_engine(settings.database_url or "", settings))
        try:
            if not sa.inspect(database.engine).has_table("usage", schema="media"):
                raise click.ClickException(
                    "this database has no media tables yet: run `frota migrate` first"
                )
            yield settings, database, LocalStorage(settings.media_root)
        finally:
            database.engine.dispose()


@media.command()
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; change nothing.")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=0),
    default=None,
    help="Delete unheld files older than this instead of those past MEDIA_RETENTION_DAYS.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH_SIZE)
def prune(dry_run: bool, older_than_days: int | None, batch_size: int) -> None:
    """Delete unheld files past retention, then the oldest while over the high-water mark."""

    def print_file(file_id: uuid.UUID, size: int, reason: str) -> None:
        click.echo(f"would delete {file_id} ({size} bytes): {reason}")

    with (
        _media_volume() as (settings, database, storage),
        prune_lock(database.engine) as acquired,
    ):
        if not acquired:
            raise click.ClickException("another prune is running; try again later")
        with database.sessionmaker() as db_session:
            result = prune_media(
                db_session=db_session,
                storage=storage,
                quota_bytes=settings.media_quota_mb * MB,
                older_than_days=older_than_days,
                dry_run=dry_run,
                batch_size=batch_size,
                report=print_file,
            )
    click.echo(result.summary())


@media.command()
@click.option("--fix", is_flag=True, help="Repair what is found, not just report it.")
def reconcile(fix: bool) -> None:
    """Compare the volume with the database: orphan files, rows without files, usage.

    Exits with status 1 when problems are found and not fixed.
    """
    with _media_volume() as (_settings, database, storage), database.sessionmaker() as db_session:
        report = reconcile_volume(db_session=db_session, storage=storage, fix=fix)
    click.echo(report.summary())
    if report.problems and not fix:
        raise SystemExit(1)
