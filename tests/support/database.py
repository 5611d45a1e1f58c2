"""A throw-away PostgreSQL database for a test run.

With ``TEST_DATABASE_URL`` set (CI), a fresh database is created on that
server for each run and dropped afterwards; without it, embedded PostgreSQL
is started in a temporary directory.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

from frota.database import create_database, start_embedded


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin URL of a PostgreSQL server (the configured one, or embedded)."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="frota-pg-") as tmp:
        server, url = start_embedded(Path(tmp) / "pgdata", database="postgres", cleanup="delete")
        try:
            yield url
        finally:
            server.cleanup()


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_database(server_url: str, label: str) -> Iterator[str]:
    """Create a uniquely named database on the server; drop it afterwards."""
    name = f"frota_{label}_{secrets.token_hex(4)}"
    create_database(server_url, name)
    try:
        yield with_database(server_url, name)
    finally:
        conn = psycopg2.connect(server_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        conn.close()
