"""In production mode the stack refuses to start with default or short secrets, with a
message that names the problem; the commands that act as the database owner also
refuse a weak or missing database password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from frota.cli import main as frota
from shared.config import ConfigError, Settings

STRONG = {
    "JWT_SECRET_KEY": "j" * 48,
    "INTERNAL_SECRET_KEY": "i" * 48,
    "WEB_SECRET_KEY": "w" * 48,
    "AUTH_DB_PASSWORD": "a" * 48,
    "FLEET_DB_PASSWORD": "f" * 48,
    "MEDIA_DB_PASSWORD": "m" * 48,
}
# Nothing listens there: a command that got as far as connecting would fail differently.
UNREACHABLE_DB = "postgresql://frota:{password}@127.0.0.1:9/frota"


def production_env(tmp_path: Path, **env: str) -> dict[str, str]:
    return {
        **STRONG,
        "FROTA_ENV": "production",
        "FROTA_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": UNREACHABLE_DB.format(password="o" * 48),
        **env,
    }


def test_serve_gateway_refuses_to_start_with_jwt_secret_changeme(tmp_path):
    # A real process: had the check failed, `frota serve` would exec gunicorn.
    env = {"PATH": os.environ["PATH"], **production_env(tmp_path, JWT_SECRET_KEY="changeme")}
    frota_script = Path(sys.executable).parent / "frota"

    result = subprocess.run(
        [str(frota_script), "serve", "gateway"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert (
        "Error: refusing to start in production: JWT_SECRET_KEY is missing or a placeholder value"
        in result.stderr
    )


def test_init_refuses_to_start_with_jwt_secret_changeme(tmp_path):
    result = CliRunner().invoke(
        frota, ["init"], env=production_env(tmp_path, JWT_SECRET_KEY="changeme")
    )

    assert result.exit_code != 0
    assert "JWT_SECRET_KEY is missing or a placeholder value" in result.output
    assert not (tmp_path / "var" / "secrets").exists(), "no fallback to generated secrets"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("changeme", "the password in DATABASE_URL is missing or a placeholder value"),
        ("short", "the password in DATABASE_URL must be at least 32 characters"),
    ],
)
def test_init_refuses_a_weak_owner_password(tmp_path, password, problem):
    env = production_env(tmp_path, DATABASE_URL=UNREACHABLE_DB.format(password=password))

    result = CliRunner().invoke(frota, ["init"], env=env)

    assert result.exit_code != 0
    assert f"refusing to start in production: {problem}" in result.output


@pytest.mark.parametrize("command", ["init", "migrate", "backup"])
def test_owner_commands_require_database_url_in_production(tmp_path, command):
    env = {**production_env(tmp_path), "DATABASE_URL": None}

    result = CliRunner().invoke(frota, [command], env=env)

    assert result.exit_code != 0
    assert "refusing to start in production: DATABASE_URL is required" in result.output


def test_init_refuses_missing_role_passwords_before_touching_the_database(tmp_path):
    env = {**production_env(tmp_path), "FLEET_DB_PASSWORD": None, "MEDIA_DB_PASSWORD": None}

    result = CliRunner().invoke(frota, ["init"], env=env)

    assert result.exit_code != 0
    assert "FLEET_DB_PASSWORD, MEDIA_DB_PASSWORD must be set" in result.output
    assert not (tmp_path / "var" / "database-passwords").exists()


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("FLEET_DB_PASSWORD", "changeme", "FLEET_DB_PASSWORD is missing or a placeholder value"),
        (
            "MEDIA_DATABASE_URL",
            "postgresql://frota_media:short@db/frota",
            "the password in MEDIA_DATABASE_URL must be at least 32 characters",
        ),
    ],
)
def test_every_process_refuses_a_weak_database_password_it_is_given(
    tmp_path, variable, value, problem
):
    with pytest.raises(ConfigError, match=f"refusing to start in production: .*{problem}"):
        Settings.from_env(production_env(tmp_path, **{variable: value}))


def test_a_strong_production_configuration_is_accepted(tmp_path):
    env = production_env(
        tmp_path, FLEET_DATABASE_URL=f"postgresql://frota_fleet:{STRONG['FLEET_DB_PASSWORD']}@db/f"
    )

    settings = Settings.from_env(env)

    assert settings.database_url_for("fleet") == env["FLEET_DATABASE_URL"]
    assert settings.role_passwords()["media"] == STRONG["MEDIA_DB_PASSWORD"]
