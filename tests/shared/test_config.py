"""Settings.from_env: defaults, parse errors, the production checklist, local secrets."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import stat
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from shared import config
from shared.config import MIN_SECRET_LENGTH, ConfigError, Settings
from shared.tokens import configure_jwt

GOOD_JWT_SECRET = "j" * 64
GOOD_INTERNAL_SECRET = "i" * 64
REPO_ROOT = Path(__file__).resolve().parents[2]


def dev_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """A development environment whose var dir (and so its secrets file) is private."""
    return {"FROTA_VAR_DIR": str(tmp_path / "var"), **env}


def production_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """A production environment that passes every check, unless ``env`` spoils it."""
    return {
        "FROTA_ENV": "production",
        "FROTA_VAR_DIR": str(tmp_path / "var"),
        "JWT_SECRET_KEY": GOOD_JWT_SECRET,
        "INTERNAL_SECRET_KEY": GOOD_INTERNAL_SECRET,
        "WEB_SECRET_KEY": "w" * 48,
        "DATABASE_URL": "postgresql://frota:pw@db.internal:5432/frota",
        **env,
    }


# --- defaults -------------------------------------------------------------------------


def test_defaults_match_the_documented_values(tmp_path):
    settings = Settings.from_env(dev_env(tmp_path))

    assert settings.environment == "development"
    assert not settings.is_production
    assert settings.rate_limit_default == "60/minute"
    assert settings.rate_limit_login == "10/minute"
    assert settings.media_max_upload_mb == 50
    assert settings.media_quota_mb == 10240
    assert settings.media_retention_days == 60
    assert settings.db_pool_size == 20
    assert settings.db_max_overflow == 30
    assert settings.db_pool_recycle == 3600
    assert settings.jwt_access_token_hours == 24
    assert settings.internal_token_ttl_seconds == 30
    assert settings.trusted_proxies == ()
    assert settings.database_url is None


def test_default_ports_are_8000_to_8003_and_service_urls_follow_them(tmp_path):
    settings = Settings.from_env(dev_env(tmp_path))

    assert [settings.port_of(part) for part in ("gateway", "auth", "fleet", "media")] == [
        8000,
        8001,
        8002,
        8003,
    ]
    assert dict(settings.service_urls) == {
        "auth": "http://127.0.0.1:8001",
        "fleet": "http://127.0.0.1:8002",
        "media": "http://127.0.0.1:8003",
    }


def test_a_changed_port_moves_the_default_service_url_with_it(tmp_path):
    settings = Settings.from_env(dev_env(tmp_path, FLEET_PORT="9102"))

    assert settings.fleet_port == 9102
    assert settings.service_urls["fleet"] == "http://127.0.0.1:9102"


def test_client_tokens_last_24_hours_by_default(tmp_path):
    app = Flask(__name__)
    configure_jwt(app, Settings.from_env(dev_env(tmp_path)))

    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(hours=24)


def test_empty_values_fall_back_to_defaults(tmp_path):
    settings = Settings.from_env(
        dev_env(tmp_path, DB_POOL_SIZE="", RATE_LIMIT_LOGIN="", MEDIA_QUOTA_MB="")
    )

    assert settings.db_pool_size == 20
    assert settings.rate_limit_login == "10/minute"
    assert settings.media_quota_mb == 10240


def test_values_from_the_environment_override_defaults(tmp_path):
    settings = Settings.from_env(
        dev_env(
            tmp_path,
            RATE_LIMIT_DEFAULT="100/minute",
            MEDIA_MAX_UPLOAD_MB="5",
            DB_POOL_SIZE="7",
            JWT_ACCESS_TOKEN_HOURS="1.5",
            LOG_LEVEL="debug",
        )
    )

    assert settings.rate_limit_default == "100/minute"
    assert settings.media_max_upload_mb == 5
    assert settings.db_pool_size == 7
    assert settings.jwt_access_token_hours == 1.5
    assert settings.log_level == "DEBUG"


# --- parse errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "GATEWAY_PORT",
        "FLEET_PORT",
        "MEDIA_MAX_UPLOAD_MB",
        "MEDIA_QUOTA_MB",
        "MEDIA_RETENTION_DAYS",
        "DB_POOL_SIZE",
        "DB_MAX_OVERFLOW",
        "DB_POOL_RECYCLE",
        "INTERNAL_TOKEN_TTL_SECONDS",
        "WEB_CONCURRENCY",
    ],
)
@pytest.mark.parametrize("raw", ["twenty", "1.5", "8k"])
def test_a_non_integer_is_refused_naming_the_variable(tmp_path, name, raw):
    with pytest.raises(ConfigError, match=rf"{name} must be an integer, got '{raw}'"):
        Settings.from_env(dev_env(tmp_path, **{name: raw}))


@pytest.mark.parametrize("name", ["JWT_ACCESS_TOKEN_HOURS", "UPSTREAM_READ_TIMEOUT"])
def test_a_non_number_is_refused_naming_the_variable(tmp_path, name):
    with pytest.raises(ConfigError, match=rf"{name} must be a number"):
        Settings.from_env(dev_env(tmp_path, **{name: "soon"}))


# --- production checklist -------------------------------------------------------------


def test_production_with_strong_distinct_secrets_and_a_database_starts(tmp_path):
    settings = Settings.from_env(production_env(tmp_path))

    assert settings.is_production
    assert settings.jwt_secret_key == GOOD_JWT_SECRET
    assert settings.internal_secret_key == GOOD_INTERNAL_SECRET


def test_production_never_generates_a_local_secrets_file(tmp_path):
    Settings.from_env(production_env(tmp_path))

    assert not (tmp_path / "var" / "secrets").exists()


def test_the_environment_name_is_case_insensitive(tmp_path):
    env = production_env(tmp_path, FROTA_ENV=" Production ", JWT_SECRET_KEY="changeme")

    with pytest.raises(ConfigError, match="refusing to start in production"):
        Settings.from_env(env)


@pytest.mark.parametrize("placeholder", ["changeme", "CHANGEME", "change-me", "secret", " dev "])
def test_production_refuses_a_placeholder_jwt_secret(tmp_path, placeholder):
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY is missing or a placeholder value"):
        Settings.from_env(production_env(tmp_path, JWT_SECRET_KEY=placeholder))


@pytest.mark.parametrize("name", ["JWT_SECRET_KEY", "INTERNAL_SECRET_KEY"])
def test_production_refuses_a_missing_secret(tmp_path, name):
    env = production_env(tmp_path)
    del env[name]

    with pytest.raises(ConfigError, match=f"{name} is missing or a placeholder value"):
        Settings.from_env(env)
    assert not (tmp_path / "var" / "secrets").exists(), "no fallback to generated secrets"


@pytest.mark.parametrize("name", ["JWT_SECRET_KEY", "INTERNAL_SECRET_KEY"])
def test_production_refuses_a_secret_shorter_than_32_characters(tmp_path, name):
    assert MIN_SECRET_LENGTH == 32
    short = "s" * (MIN_SECRET_LENGTH - 1)

    with pytest.raises(ConfigError, match=f"{name} must be at least 32 characters"):
        Settings.from_env(production_env(tmp_path, **{name: short}))


def test_production_accepts_a_secret_of_exactly_32_characters(tmp_path):
    settings = Settings.from_env(production_env(tmp_path, JWT_SECRET_KEY="s" * 32))

    assert settings.jwt_secret_key == "s" * 32


def test_production_refuses_equal_jwt_and_internal_secrets(tmp_path):
    env = production_env(tmp_path, INTERNAL_SECRET_KEY=GOOD_JWT_SECRET)

    differ = "JWT_SECRET_KEY, INTERNAL_SECRET_KEY and WEB_SECRET_KEY must differ"
    with pytest.raises(ConfigError, match=differ):
        Settings.from_env(env)


def test_production_needs_no_database_url_the_gateway_has_none(tmp_path):
    env = production_env(tmp_path)
    del env["DATABASE_URL"]

    assert Settings.from_env(env).database_url is None


def test_production_lists_every_problem_at_once(tmp_path):
    env = production_env(
        tmp_path, JWT_SECRET_KEY="changeme", INTERNAL_SECRET_KEY="short", FLEET_DB_PASSWORD="pw"
    )

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)

    message = str(caught.value)
    assert message.startswith("refusing to start in production: ")
    assert "JWT_SECRET_KEY is missing or a placeholder value" in message
    assert "INTERNAL_SECRET_KEY must be at least 32 characters" in message
    assert "FLEET_DB_PASSWORD must be at least 32 characters" in message


def test_the_error_message_never_echoes_a_secret(tmp_path):
    almost = "a-real-looking-but-short-key"

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(production_env(tmp_path, JWT_SECRET_KEY=almost))

    assert almost not in str(caught.value)


# --- local secrets --------------------------------------------------------------------


def test_development_without_secrets_generates_strong_distinct_ones(tmp_path):
    settings = Settings.from_env(dev_env(tmp_path))

    assert len(settings.jwt_secret_key) >= MIN_SECRET_LENGTH
    assert len(settings.internal_secret_key) >= MIN_SECRET_LENGTH
    assert settings.jwt_secret_key != settings.internal_secret_key


def test_generated_secrets_are_stored_in_var_secrets_readable_by_the_owner_only(tmp_path):
    settings = Settings.from_env(dev_env(tmp_path))

    secrets_file = tmp_path / "var" / "secrets"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert json.loads(secrets_file.read_text()) == {
        "JWT_SECRET_KEY": settings.jwt_secret_key,
        "INTERNAL_SECRET_KEY": settings.internal_secret_key,
    }
    web_secrets = tmp_path / "var" / "web-secrets"
    assert stat.S_IMODE(web_secrets.stat().st_mode) == 0o600
    assert json.loads(web_secrets.read_text()) == {"WEB_SECRET_KEY": settings.web_secret_key}
    stored = {"secrets", "web-secrets"}
    leftovers = [p.name for p in secrets_file.parent.iterdir() if p.name not in stored]
    assert leftovers == [], "no temporary files are left beside the secrets"


def test_a_second_start_reuses_the_generated_secrets(tmp_path):
    first = Settings.from_env(dev_env(tmp_path))
    second = Settings.from_env(dev_env(tmp_path))

    assert (second.jwt_secret_key, second.internal_secret_key) == (
        first.jwt_secret_key,
        first.internal_secret_key,
    )


def test_another_var_dir_gets_other_secrets(tmp_path):
    first = Settings.from_env(dev_env(tmp_path / "one"))
    second = Settings.from_env(dev_env(tmp_path / "two"))

    assert first.jwt_secret_key != second.jwt_secret_key


def test_secrets_given_in_the_environment_win_over_stored_ones(tmp_path):
    Settings.from_env(dev_env(tmp_path))
    settings = Settings.from_env(dev_env(tmp_path, JWT_SECRET_KEY="my-own-development-key"))

    stored = json.loads((tmp_path / "var" / "secrets").read_text())
    assert settings.jwt_secret_key == "my-own-development-key"
    assert settings.internal_secret_key == stored["INTERNAL_SECRET_KEY"]


def test_development_with_both_secrets_given_writes_no_file(tmp_path):
    env = dev_env(tmp_path, JWT_SECRET_KEY="a" * 40, INTERNAL_SECRET_KEY="b" * 40)

    Settings.from_env(env)

    assert not (tmp_path / "var" / "secrets").exists()


def test_threads_starting_together_all_get_the_same_secrets(tmp_path):
    env = dev_env(tmp_path)
    workers = 16
    barrier = threading.Barrier(workers)
    results: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            settings = Settings.from_env(env)
        except BaseException as exc:
            errors.append(exc)
        else:
            results.append((settings.jwt_secret_key, settings.internal_secret_key))

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(results) == workers
    assert len(set(results)) == 1
    stored = json.loads((tmp_path / "var" / "secrets").read_text())
    assert results[0] == (stored["JWT_SECRET_KEY"], stored["INTERNAL_SECRET_KEY"])


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from shared.config import Settings

    var_dir, start_at = sys.argv[1], float(sys.argv[2])
    time.sleep(max(0.0, start_at - time.time()))
    settings = Settings.from_env({"FROTA_VAR_DIR": var_dir})
    print(json.dumps([settings.jwt_secret_key, settings.internal_secret_key]))
    """
)


def test_processes_starting_together_all_get_the_same_secrets(tmp_path):
    var_dir = str(tmp_path / "var")
    start_at = str(time.time() + 2.0)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, var_dir, start_at],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [child.communicate(timeout=60) for child in children]

    assert [child.returncode for child in children] == [0] * len(children), outputs
    seen = {tuple(json.loads(stdout)) for stdout, _ in outputs}
    assert len(seen) == 1
    stored = json.loads((tmp_path / "var" / "secrets").read_text())
    assert seen == {(stored["JWT_SECRET_KEY"], stored["INTERNAL_SECRET_KEY"])}


# --- other rules ----------------------------------------------------------------------


def test_internal_token_ttl_above_60_seconds_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="INTERNAL_TOKEN_TTL_SECONDS must be between 1 and 60"):
        Settings.from_env(dev_env(tmp_path, INTERNAL_TOKEN_TTL_SECONDS="61"))


def test_internal_token_ttl_of_60_seconds_is_accepted(tmp_path):
    settings = Settings.from_env(dev_env(tmp_path, INTERNAL_TOKEN_TTL_SECONDS="60"))

    assert settings.internal_token_ttl_seconds == 60


def test_internal_token_ttl_is_checked_in_production_too(tmp_path):
    with pytest.raises(ConfigError, match="INTERNAL_TOKEN_TTL_SECONDS must be between 1 and 60"):
        Settings.from_env(production_env(tmp_path, INTERNAL_TOKEN_TTL_SECONDS="3600"))


def test_trusted_proxies_are_a_tuple_of_trimmed_addresses(tmp_path):
    settings = Settings.from_env(
        dev_env(tmp_path, TRUSTED_PROXIES=" 10.0.0.1, 10.0.0.2 ,,192.168.0.0/16, ")
    )

    assert settings.trusted_proxies == ("10.0.0.1", "10.0.0.2", "192.168.0.0/16")


def test_from_env_reads_only_the_mapping_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_POOL_SIZE", "not-an-integer")
    monkeypatch.setenv("FROTA_ENV", "production")

    settings = Settings.from_env(dev_env(tmp_path))

    assert settings.db_pool_size == 20
    assert not settings.is_production


# --- LOG_FORMAT -----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_format_defaults_to_console_on_a_terminal_and_json_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert Settings.from_env(dev_env(tmp_path)).log_format == "json"

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert Settings.from_env(dev_env(tmp_path)).log_format == "console"
    assert Settings.from_env(dev_env(tmp_path, LOG_FORMAT="JSON")).log_format == "json"


def test_log_format_is_json_in_production_even_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert Settings.from_env(production_env(tmp_path)).log_format == "json"
    console = production_env(tmp_path, LOG_FORMAT="console")
    assert Settings.from_env(console).log_format == "console"


def test_an_unknown_log_format_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of console, json"):
        Settings.from_env(dev_env(tmp_path, LOG_FORMAT="xml"))


def readme_configuration_rows() -> list[tuple[list[str], str]]:
    """(the variables, the default cell) of each row of the README's configuration table."""
    text = (REPO_ROOT / "README.md").read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]) if len(cells) == 3 else []
        if names:
            rows.append((names, cells[1]))
    return rows


def test_the_readme_documents_every_setting_and_nothing_else():
    documented = {name for names, _ in readme_configuration_rows() for name in names}

    assert documented == config.variables()


def test_the_readme_gives_each_plain_default_as_declared(tmp_path):
    # Rows whose default is a number or a `literal` per variable ("24 / 30"
    # for two variables); prose defaults ("generated once ...") are not compared.
    declared = {f.metadata["variable"]: f for f in dataclasses.fields(Settings) if f.metadata}
    compared = 0
    for names, cell in readme_configuration_rows():
        values = [value.strip().strip("`").removesuffix(" s") for value in cell.split(" / ")]
        values = ["" if value == "empty" else value for value in values]
        plain = all(re.fullmatch(r"[\w.:/,-]*", value) for value in values)
        if len(values) != len(names) or not plain or not all(n in declared for n in names):
            continue
        for name, value in zip(names, values, strict=True):
            field, parse = declared[name], declared[name].metadata["parse"]
            shown = ",".join(field.default) if isinstance(field.default, tuple) else field.default
            # Both through the variable's own parser: "24" and 24.0 are one value.
            assert parse(value, name) == parse(str(shown), name), (name, value, field.default)
            compared += 1
    assert compared >= 30  # the check reads the table, not nothing
