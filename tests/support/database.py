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

from frota.database import create_database, drop_database, url_with_database
from frota.local import EmbeddedPostgres


@contextmanager
def postgres_server(variable: str = "TEST_DATABASE_URL") -> Iterator[str]:
    """Yield an admin URL of a PostgreSQL server: ``variable``'s, or embedded in a temp dir."""
    configured = os.environ.get(variable)
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="frota-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata")
        server.start(database="postgres")
        try:
            yield server.url("postgres")
        finally:
            server.stop()


@contextmanager
def scratch_database(server_url: str, label: str) -> Iterator[str]:
    """Create a uniquely named database on the server; drop it afterwards."""
    name = f"frota_{label}_{secrets.token_hex(4)}"
    create_database(server_url, name)
    try:
        yield url_with_database(server_url, name)
    finally:
        drop_database(server_url, name)
