"""Fault drills: the stack against PostgreSQL and Redis instances the tests own,
so that stopping them never touches the machine's shared ones."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from frota.local import EmbeddedPostgres


class PrivatePostgres:
    """Embedded PostgreSQL in a temporary directory that a drill may stop and start."""

    def __init__(self, server: EmbeddedPostgres) -> None:
        self.server = server
        self.admin_url = server.url("postgres")

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start(database="postgres")


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    with tempfile.TemporaryDirectory(prefix="frota-drill-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata")
        server.start(database="postgres")
        try:
            yield PrivatePostgres(server)
        finally:
            server.stop()
