"""Each service connects as its own database role, with rights on its own schema only;
the gateway has no database at all."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest
from psycopg2 import errors
from sqlalchemy.orm import Session

import media_service
from frota.cli import child_environment, part_environments
from frota.roles import provision_service_roles, service_database_url, service_roles
from gateway import create_app as create_gateway
from shared.config import Settings
from shared.db import Database, make_engine
from tests.conftest import TEST_SECRETS
from tests.support import factories
from tests.support.files import jpeg_bytes
from tests.support.identity import ApiClient
from tests.support.processes import free_port


def role_url(settings: Settings, service: str) -> str:
    (role,) = [r for r in service_roles(settings) if r.service == service]
    return service_database_url(settings.database_url or "", role)


@contextmanager
def role_cursor(settings: Settings, service: str) -> Iterator[psycopg2.extensions.cursor]:
    conn = psycopg2.connect(role_url(settings, service))
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@contextmanager
def role_session(settings: Settings, service: str) -> Iterator[Session]:
    database = Database(make_engine(role_url(settings, service), settings))
    try:
        with database.sessionmaker() as session:
            yield session
    finally:
        database.engine.dispose()


def owner_execute(settings: Settings, statement: str) -> None:
    conn = psycopg2.connect(settings.database_url or "")
    with conn, conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def denial(settings: Settings, service: str, statement: str) -> str:
    """PostgreSQL's refusal of ``statement`` to ``service``'s role (it must be refused)."""
    with (
        role_cursor(settings, service) as cur,
        pytest.raises(errors.InsufficientPrivilege) as refused,
    ):
        cur.execute(statement)
    return str(refused.value)


@pytest.mark.parametrize("table", ["auth.users", "media.files"])
def test_the_fleet_role_is_denied_the_other_services_tables(shared_ops_settings, table):
    refusal = denial(shared_ops_settings, "fleet", f"SELECT * FROM {table}")  # noqa: S608

    assert "permission denied for schema" in refusal


@pytest.mark.parametrize(("service", "foreign"), [("auth", "fleet"), ("media", "auth")])
def test_no_service_role_reaches_another_schema(shared_ops_settings, service, foreign):
    denial(shared_ops_settings, service, f"SELECT count(*) FROM {foreign}.alembic_version")  # noqa: S608


def test_a_service_role_cannot_change_the_schema(shared_ops_settings):
    denial(shared_ops_settings, "fleet", "CREATE TABLE fleet.intruder (id int)")
    denial(shared_ops_settings, "fleet", "CREATE TABLE public.intruder (id int)")
    assert "must be owner" in denial(shared_ops_settings, "fleet", "DROP TABLE fleet.vehicles")


def test_role_passwords_reach_the_server_hashed(shared_ops_settings):
    names = [role.name for role in service_roles(shared_ops_settings)]
    conn = psycopg2.connect(shared_ops_settings.database_url or "")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT rolname, rolpassword, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb "
            "FROM pg_authid WHERE rolname = ANY(%s)",
            (names,),
        )
        rows = cur.fetchall()
    conn.close()
    assert sorted(row[0] for row in rows) == sorted(names)
    for _name, password, can_login, *powers in rows:
        assert password.startswith("SCRAM-SHA-256$")
        assert can_login
        assert not any(powers)


def test_every_service_works_in_its_own_schema_as_its_own_role(shared_ops_settings, tmp_path):
    settings = shared_ops_settings
    with role_session(settings, "auth") as auth_session:
        user = factories.make_user(auth_session, role="driver")
    with role_session(settings, "fleet") as fleet_session:
        vehicle = factories.make_vehicle(fleet_session)
        driver = factories.make_driver(fleet_session, user=user)
        # The overlap rule is an exclusion constraint using btree_gist (in `public`).
        factories.make_assignment(fleet_session, vehicle=vehicle, driver=driver)
    database = Database(make_engine(role_url(settings, "media"), settings))
    app = media_service.create_app(settings, database=database)
    media_api = ApiClient(app, "media", settings.internal_secret_key)
    try:
        response = media_api.post(
            "/api/v1/media/files",
            user=str(user.id),
            role="driver",
            data={"file": (io.BytesIO(jpeg_bytes()), "photo.jpg", "image/jpeg")},
            content_type="multipart/form-data",
        )
    finally:
        database.engine.dispose()
    assert response.status_code == 201, response.json


def test_tables_of_later_migrations_are_granted_to_their_service_only(ops_settings):
    owner_execute(ops_settings, "CREATE TABLE fleet.later (id serial PRIMARY KEY, note text)")

    with role_cursor(ops_settings, "fleet") as cur:
        cur.execute("INSERT INTO fleet.later (note) VALUES ('ok') RETURNING id")
        assert cur.fetchone() == (1,)
    denial(ops_settings, "auth", "SELECT * FROM fleet.later")


def test_provisioning_again_takes_back_a_grant_made_by_hand(ops_settings):
    fleet_role = ops_settings.database_role("fleet")
    owner_execute(ops_settings, f"GRANT USAGE ON SCHEMA auth TO {fleet_role}")
    owner_execute(ops_settings, f"GRANT SELECT ON auth.users TO {fleet_role}")
    with role_cursor(ops_settings, "fleet") as cur:
        cur.execute("SELECT count(*) FROM auth.users")

    provision_service_roles(ops_settings.database_url or "", service_roles(ops_settings))

    denial(ops_settings, "fleet", "SELECT count(*) FROM auth.users")


def test_local_role_passwords_are_generated_once(tmp_path):
    env = {**TEST_SECRETS, "FROTA_VAR_DIR": str(tmp_path / "var"), "FLEET_DB_PASSWORD": "given"}
    first = Settings.from_env(env).role_passwords()
    again = Settings.from_env(env).role_passwords()

    assert first == again
    assert first["fleet"] == "given"
    assert len(first["auth"]) >= 32
    assert first["auth"] != first["media"]


# --- how each process gets its connection ----------------------------------------------


def test_frota_up_gives_each_service_its_own_role_and_the_gateway_no_database(
    shared_ops_settings, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", shared_ops_settings.database_url or "")
    monkeypatch.setenv("MEDIA_DB_PASSWORD", "from-the-environment")
    roles = service_roles(shared_ops_settings)

    common = child_environment(shared_ops_settings)
    parts = part_environments(shared_ops_settings, roles)

    assert "DATABASE_URL" not in common
    assert "MEDIA_DB_PASSWORD" not in common
    assert "gateway" not in parts
    for role in roles:
        (variable,) = parts[role.service]
        assert variable == f"{role.service.upper()}_DATABASE_URL"
        settings = Settings.from_env({**common, **parts[role.service]})
        conn = psycopg2.connect(settings.database_url_for(role.service) or "")
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (role.name,)
        conn.close()


def test_a_service_without_its_own_url_uses_database_url(tmp_path):
    env = {**TEST_SECRETS, "FROTA_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgresql://o@h/db"}
    settings = Settings.from_env({**env, "FLEET_DATABASE_URL": "postgresql://f@h/db"})

    assert settings.database_url_for("fleet") == "postgresql://f@h/db"
    assert settings.database_url_for("auth") == "postgresql://o@h/db"


def test_the_gateway_serves_in_production_without_any_database_url(tmp_path):
    # Services on ports where nothing listens.
    services = {
        f"{name}_URL": f"http://127.0.0.1:{free_port()}" for name in ("AUTH", "FLEET", "MEDIA")
    }
    settings = Settings.from_env(
        {**TEST_SECRETS, **services, "FROTA_ENV": "production", "FROTA_VAR_DIR": str(tmp_path)}
    )
    assert settings.database_url is None

    client = create_gateway(settings).test_client()

    assert client.get("/livez").status_code == 200
    # Every service is unreachable here: the gateway says so, it does not crash.
    health = client.get("/health")
    assert health.status_code == 503
    assert set(health.json["services"]) == {"auth", "fleet", "media"}
