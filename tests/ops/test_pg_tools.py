"""Which pg_dump and psql `frota backup` and `frota restore` run."""

from __future__ import annotations

from pathlib import Path

import pytest

from frota import pg_tools
from frota.pg_tools import ClientNotFound, ClientProgram


@pytest.fixture
def installed_majors(monkeypatch):
    """Pretend these major versions of every client program are installed."""

    def install(*majors: int) -> None:
        programs = [ClientProgram(Path(f"/pg/{major}/bin/x"), major) for major in sorted(majors)]
        monkeypatch.setattr(pg_tools, "installed", lambda _name: programs)

    return install


def test_pg_dump_is_the_oldest_that_is_not_older_than_the_server(installed_majors):
    # pg_dump 18 would write `SET transaction_timeout`, which PostgreSQL 16 rejects on restore.
    installed_majors(15, 16, 18)

    assert pg_tools.find_pg_dump(16).major == 16
    assert pg_tools.find_pg_dump(17).major == 18


def test_no_pg_dump_recent_enough_is_a_clear_error(installed_majors):
    installed_majors(15)

    with pytest.raises(ClientNotFound, match="install postgresql-client-16"):
        pg_tools.find_pg_dump(16)


def test_psql_is_the_newest_and_must_read_the_dump(installed_majors):
    installed_majors(15, 18)

    assert pg_tools.find_psql(at_least=16).major == 18
    with pytest.raises(ClientNotFound, match="no psql of PostgreSQL 19 or newer"):
        pg_tools.find_psql(at_least=19)


def test_the_installed_programs_are_found_with_their_versions():
    # The test server's own version is always served: the embedded wheel or PATH has it.
    programs = pg_tools.installed("pg_dump")

    assert programs
    assert all(program.path.exists() and program.major >= 10 for program in programs)


def test_the_password_travels_in_the_environment_not_the_command_line():
    dsn, env = pg_tools.connection_for(
        "postgresql://frota:s3cret%40x@db:5432/frota?sslmode=require", "frota-backup"
    )

    assert "s3cret" not in dsn
    assert env["PGPASSWORD"] == "s3cret@x"
    assert "sslmode=require" in dsn
    assert env["PGAPPNAME"] == "frota-backup"
