"""Migration 0004 on users that existed before it: canonical forms, or a clear refusal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import auth_service
from shared import migrations
from shared.db import sqlalchemy_url
from tests.support.database import scratch_database


@pytest.fixture
def database_at_0003(pg_server_url) -> Iterator[tuple[str, sa.Engine]]:
    with scratch_database(pg_server_url, "auth_0004") as url:
        migrations.upgrade(auth_service.MIGRATIONS, url, "0003")
        engine = sa.create_engine(sqlalchemy_url(url))
        try:
            yield url, engine
        finally:
            engine.dispose()


def insert_users(engine: sa.Engine, *usernames: str) -> None:
    with engine.begin() as conn:
        for username in usernames:
            conn.execute(
                sa.text(
                    "INSERT INTO auth.users (id, username, full_name, role, password_hash,"
                    " failed_login_count, locked_until)"
                    " VALUES (:id, :username, 'Old User', 'driver', 'x', 3, now())"
                ),
                {"id": uuid.uuid4(), "username": username},
            )


def version(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT version_num FROM auth.alembic_version"))


def test_existing_usernames_get_their_canonical_form(database_at_0003):
    url, engine = database_at_0003
    insert_users(engine, "Maria.Silva", "  JOSÉ ", "Stra\u00dfe", "\uff42\uff4f\uff42")
    migrations.upgrade(auth_service.MIGRATIONS, url)
    with engine.connect() as conn:
        result = conn.execute(sa.text("SELECT username, username_canonical FROM auth.users"))
        rows = {username: canonical for username, canonical in result}
        columns = {c["name"] for c in sa.inspect(conn).get_columns("users", schema="auth")}
    assert rows == {
        "Maria.Silva": "maria.silva",
        "  JOSÉ ": "josé",
        "Stra\u00dfe": "strasse",
        "\uff42\uff4f\uff42": "bob",
    }
    # The old per-account lockout is gone with its columns.
    assert not {"failed_login_count", "first_failed_login_at", "locked_until"} & columns
    # ... and the canonical form is unique from now on.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO auth.users (id, username, username_canonical, full_name, role,"
                " password_hash) VALUES (:id, 'MARIA.SILVA', 'maria.silva', 'X', 'driver', 'x')"
            ),
            {"id": uuid.uuid4()},
        )


def test_usernames_that_collide_once_normalised_stop_the_migration_naming_them(
    database_at_0003,
):
    url, engine = database_at_0003
    # Both existed side by side under the old lower() index.
    insert_users(engine, "Paul", "\uff30\uff41\uff55\uff4c", "maria")
    with pytest.raises(Exception, match="usernames are the same once normalised") as caught:
        migrations.upgrade(auth_service.MIGRATIONS, url)
    message = str(caught.value)
    assert "'Paul' (id " in message
    assert "'\uff30\uff41\uff55\uff4c' (id " in message
    assert "maria" not in message
    # Nothing changed: still at 0003, and the rows as they were.
    assert version(engine) == "0003"
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("users", schema="auth")}
    assert "username_canonical" not in columns
    assert "locked_until" in columns
