"""One database role per service, with rights on its own schema only.

`frota migrate` runs as the database owner (DATABASE_URL); after the
migrations it makes sure each service's role exists with its current
password and exactly these rights: connect, use its schema, read and write
the rows of its tables, use its sequences — for the tables migrations add
later too — and nothing on the other services' schemas or on ``public``.
Every statement is idempotent, so it runs on every migrate and repairs drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection, cursor, encrypt_password
from sqlalchemy.engine import make_url

from shared.config import SERVICES, Settings


@dataclass(frozen=True)
class ServiceRole:
    service: str  # also the name of the service's schema
    name: str
    password: str


def service_roles(settings: Settings) -> list[ServiceRole]:
    """The role of every service, named and with the password the settings give."""
    passwords = settings.role_passwords()
    return [
        ServiceRole(service, settings.database_role(service), passwords[service])
        for service in SERVICES
    ]


def service_database_url(owner_url: str, role: ServiceRole) -> str:
    """The owner's URL with the service role's name and password instead."""
    url = make_url(owner_url).set(username=role.name, password=role.password)
    return url.render_as_string(hide_password=False)


def service_database_urls(owner_url: str, roles: list[ServiceRole]) -> Mapping[str, str]:
    """``{"auth": url, ...}``: what `frota up` gives each service as <SERVICE>_DATABASE_URL."""
    return {role.service: service_database_url(owner_url, role) for role in roles}


def connected_roles(owner_url: str, roles: list[ServiceRole]) -> dict[str, int]:
    """The open sessions of each of ``roles`` on the owner's database (roles with none left out)."""
    conn = psycopg2.connect(owner_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT usename, count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND usename = ANY(%s) GROUP BY usename",
                ([role.name for role in roles],),
            )
            return dict(cur.fetchall())
    finally:
        conn.close()


def provision_service_roles(owner_url: str, roles: list[ServiceRole]) -> None:
    """Create or update every service role and grant it its own schema only (one transaction)."""
    conn = psycopg2.connect(owner_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            database = sql.Identifier(cur.fetchone()[0])
            # Nobody but the owner and the roles granted below may connect or
            # use `public` (PostgreSQL grants both to PUBLIC by default).
            cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
            cur.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            for role in roles:
                _ensure_login_role(conn, cur, role)
                _grant_own_schema_only(cur, role, database)
    finally:
        conn.close()


def _ensure_login_role(conn: connection, cur: cursor, role: ServiceRole) -> None:
    # The password is hashed here (SCRAM, as psql's \password does), so the
    # clear text never reaches the server's logs or pg_stat_statements.
    verifier = encrypt_password(role.password, role.name, scope=conn, algorithm="scram-sha-256")
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(
        sql.SQL(
            "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS NOINHERIT PASSWORD {}"
        ).format(sql.SQL(verb), sql.Identifier(role.name), sql.Literal(verifier))
    )


def _grant_own_schema_only(cur: cursor, role: ServiceRole, database: sql.Identifier) -> None:
    name = sql.Identifier(role.name)
    own = sql.Identifier(role.service)
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, name),
        sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(name),
    ]
    for other in (sql.Identifier(s) for s in SERVICES if s != role.service):
        statements += [
            sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(other, name),
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(other, name),
            sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(other, name),
        ]
    statements += [
        # USAGE only: the role may not create objects; migrations do, as the owner.
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(own, name),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(own, name),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
            own, name
        ),
        sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(own, name),
        # Tables and sequences the owner creates in later migrations.
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {} "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(own, name),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE ON SEQUENCES TO {}").format(
            own, name
        ),
    ]
    for statement in statements:
        cur.execute(statement)
