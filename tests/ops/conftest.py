"""Fixtures of the operations tests: databases of their own, with their own service roles.

These tests drop schemas, change grants and create roles, so they never use the
shared test database. Roles belong to the whole server (every database on it
sees them), so each test names its roles with a prefix of its own and drops
them afterwards: test runs sharing one server do not meet.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from frota.database import migrate
from frota.roles import provision_service_roles, service_roles
from shared.config import SERVICES, Settings
from tests.conftest import TEST_SECRETS
from tests.support.database import scratch_database


def ops_env(tmp_path: Path, database_url: str, role_prefix: str, **env: str) -> dict[str, str]:
    """The environment of a local (non-production) run on a database of its own."""
    return {
        **TEST_SECRETS,
        "DATABASE_URL": database_url,
        "DB_ROLE_PREFIX": role_prefix,
        "FROTA_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
        **env,
    }


@contextmanager
def provisioned_database(server_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A migrated database whose service roles are set up; settings pointing at it."""
    prefix = f"frota_t{secrets.token_hex(4)}"
    try:
        with scratch_database(server_url, "ops") as url:
            settings = Settings.from_env(ops_env(tmp_path, url, prefix))
            migrate(url)
            provision_service_roles(url, service_roles(settings))
            yield settings
    finally:
        drop_roles(server_url, [f"{prefix}_{service}" for service in SERVICES])


def drop_roles(server_url: str, names: list[str]) -> None:
    # After the database is gone: the roles then hold no privilege anywhere.
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    conn.close()


@pytest.fixture
def ops_settings(pg_server_url: str, tmp_path: Path) -> Iterator[Settings]:
    with provisioned_database(pg_server_url, tmp_path) as settings:
        yield settings


@pytest.fixture(scope="module")
def shared_ops_settings(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """One provisioned database for the tests of a module that only read its grants."""
    with provisioned_database(pg_server_url, tmp_path_factory.mktemp("ops")) as settings:
        yield settings
