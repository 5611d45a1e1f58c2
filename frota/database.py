"""Databases on the PostgreSQL the stack uses, and their migrations.

The embedded PostgreSQL of local runs is frota/local.py's.
"""

from __future__ import annotations

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
# The database local runs use on the embedded PostgreSQL.
EMBEDDED_DATABASE = "frota"


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
