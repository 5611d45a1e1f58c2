"""Settings for every Frota process, read from the environment in this one place.

The README documents each variable as a table; `.env.example` lists them for
production. Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

SERVICES = ("auth", "fleet", "media")
# The services with a job queue and a worker (`frota worker <service>`).
WORKER_SERVICES = ("fleet", "media")
# The processes that serve HTTP: the gateway, the services and the web console.
PARTS = ("gateway", *SERVICES, "web")
# Variables read once per service, besides the settings' own (see :func:`variables`).
SERVICE_VARIABLES = ("{}_URL", "{}_DATABASE_URL", "{}_DB_PASSWORD")

# Secrets shorter than this, or equal to a well-known placeholder, are refused
# in production: the seed's checklist asks for a strong (64 character) key.
MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset({"changeme", "secret", "change-me", "dev", "test", ""})
# The secrets generated once into var/secrets for local runs (never in production).
LOCAL_SECRETS = ("JWT_SECRET_KEY", "INTERNAL_SECRET_KEY")
# The console's session key, in a file of its own (var/ directories made before the
# console existed hold the other two already).
WEB_SECRETS = ("WEB_SECRET_KEY",)
# Passwords of the per-service database roles; generated into var/ for local runs too.
DB_PASSWORD_VARIABLES = {service: f"{service.upper()}_DB_PASSWORD" for service in SERVICES}
LOG_FORMATS = ("console", "json")
# Role names are prefix + "_" + service; the prefix is spliced into SQL identifiers.
DB_ROLE_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ConfigError(RuntimeError):
    """The environment describes a configuration Frota refuses to run with."""


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _text(raw: str, _name: str) -> str:
    return raw


def _lower(raw: str, _name: str) -> str:
    return raw.strip().lower()


def _upper(raw: str, _name: str) -> str:
    return raw.strip().upper()


def _list(raw: str, _name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _path(raw: str, _name: str) -> Path:
    return Path(raw).resolve()


def _bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return value in ("true", "1", "yes")


def _log_format_of(raw: str, name: str) -> str:
    value = raw.strip().lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


def setting(variable: str, default: Any, parse: Callable[[str, str], Any] = _text) -> Any:
    """A field of :class:`Settings` read from ``variable``, parsed by ``parse``.

    Unset or empty, the variable leaves ``default``. This is the one place a
    setting's variable, default and parser are written; the README's table
    documents each variable (a test keeps the two in step).
    """
    return field(default=default, metadata={"variable": variable, "parse": parse})


def _runs_on_a_cron(minutes: int) -> bool:
    """Whether a task every ``minutes`` has a cron (shared.jobs.cron_every); 0 is never."""
    if minutes < 60:
        return minutes >= 0 and (minutes == 0 or 60 % minutes == 0)
    return minutes % 60 == 0 and 24 % (minutes // 60) == 0


@dataclass(frozen=True)
class Settings:
    """Everything a Frota process may be configured with.

    Build it with :meth:`from_env`; tests use :meth:`replace` for overrides.
    """

    environment: str = setting("FROTA_ENV", "development", _lower)
    var_dir: Path = setting("FROTA_VAR_DIR", Path("var"), _path)
    database_url: str | None = setting("DATABASE_URL", None)
    redis_url: str = setting("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis_prefix: str = setting("REDIS_PREFIX", "frota")
    jwt_secret_key: str = setting("JWT_SECRET_KEY", "")
    internal_secret_key: str = setting("INTERNAL_SECRET_KEY", "")
    jwt_access_token_hours: float = setting("JWT_ACCESS_TOKEN_HOURS", 24.0, _float)
    jwt_refresh_token_days: float = setting("JWT_REFRESH_TOKEN_DAYS", 30.0, _float)
    admin_password: str | None = setting("FROTA_ADMIN_PASSWORD", None)
    rate_limit_default: str = setting("RATE_LIMIT_DEFAULT", "60/minute")
    rate_limit_login: str = setting("RATE_LIMIT_LOGIN", "10/minute")
    # Successful logins (each costs an Argon2 hash and an audit row), counted
    # in PostgreSQL by the auth service; a depot shift behind one NAT fits.
    rate_limit_logins_per_account: str = setting("RATE_LIMIT_LOGINS_PER_ACCOUNT", "30/10minutes")
    rate_limit_logins_per_address: str = setting("RATE_LIMIT_LOGINS_PER_ADDRESS", "300/10minutes")
    trusted_proxies: tuple[str, ...] = setting("TRUSTED_PROXIES", (), _list)
    redis_timeout_seconds: float = setting("REDIS_TIMEOUT_SECONDS", 0.25, _float)
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", (), _list)
    metrics_allowed_networks: tuple[str, ...] = setting(
        "METRICS_ALLOWED_NETWORKS", ("127.0.0.0/8", "::1/128"), _list
    )
    plate_format: str = setting("PLATE_FORMAT", "br", _lower)
    # Unset: <var dir>/media (from_env derives it).
    media_root: Path = setting("MEDIA_ROOT", Path("var/media"), _path)
    media_max_upload_mb: int = setting("MEDIA_MAX_UPLOAD_MB", 50, _int)
    media_quota_mb: int = setting("MEDIA_QUOTA_MB", 10240, _int)
    media_retention_days: int = setting("MEDIA_RETENTION_DAYS", 60, _int)
    # Pixels a thumbnail may decode (JPEG/HEIC reduced first; WebP and alpha weigh more).
    media_max_image_pixels: int = setting("MEDIA_MAX_IMAGE_PIXELS", 50_000_000, _int)
    media_image_decodes: int = setting("MEDIA_IMAGE_DECODES", 2, _int)
    media_image_decode_wait_seconds: float = setting("MEDIA_IMAGE_DECODE_WAIT_SECONDS", 5.0, _float)
    media_upload_idle_seconds: float = setting("MEDIA_UPLOAD_IDLE_SECONDS", 60.0, _float)
    json_max_body_kb: int = setting("JSON_MAX_BODY_KB", 1024, _int)
    web_concurrency: int = setting("WEB_CONCURRENCY", 4, _int)
    gateway_port: int = setting("GATEWAY_PORT", 8000, _int)
    auth_port: int = setting("AUTH_PORT", 8001, _int)
    fleet_port: int = setting("FLEET_PORT", 8002, _int)
    media_port: int = setting("MEDIA_PORT", 8003, _int)
    web_port: int = setting("WEB_PORT", 8004, _int)
    # The console's address as the gateway reaches it; unset: 127.0.0.1 and WEB_PORT.
    web_url: str = setting("WEB_URL", "")
    # The gateway's address as the console reaches it, to call the public API;
    # unset: 127.0.0.1 and GATEWAY_PORT.
    api_url: str = setting("API_URL", "")
    # Signs the console's session cookies.
    web_secret_key: str = setting("WEB_SECRET_KEY", "")
    bind_host: str = setting("BIND_HOST", "127.0.0.1")
    service_urls: Mapping[str, str] = field(default_factory=dict)
    upstream_connect_timeout: float = setting("UPSTREAM_CONNECT_TIMEOUT", 2.0, _float)
    upstream_read_timeout: float = setting("UPSTREAM_READ_TIMEOUT", 30.0, _float)
    upload_read_timeout: float = setting("UPLOAD_READ_TIMEOUT", 300.0, _float)
    # Calls that are not a client's request streamed (shared/http_client.py).
    internal_read_timeout: float = setting("INTERNAL_READ_TIMEOUT", 10.0, _float)
    # Slow and stalled clients (gateway/bodies.py, gateway/uploads.py say why).
    body_read_timeout_seconds: float = setting("BODY_READ_TIMEOUT_SECONDS", 10.0, _float)
    body_buffer_mb: int = setting("BODY_BUFFER_MB", 64, _int)
    client_idle_timeout_seconds: float = setting("CLIENT_IDLE_TIMEOUT_SECONDS", 30.0, _float)
    max_uploads_in_flight: int = setting("MAX_UPLOADS_IN_FLIGHT", 2, _int)
    max_uploads_in_flight_per_user: int = setting("MAX_UPLOADS_IN_FLIGHT_PER_USER", 1, _int)
    internal_token_ttl_seconds: int = setting("INTERNAL_TOKEN_TTL_SECONDS", 30, _int)
    db_pool_size: int = setting("DB_POOL_SIZE", 20, _int)
    db_max_overflow: int = setting("DB_MAX_OVERFLOW", 30, _int)
    db_pool_recycle: int = setting("DB_POOL_RECYCLE", 3600, _int)
    log_level: str = setting("LOG_LEVEL", "INFO", _upper)
    # "console" (one readable line per record) or "json"; see :func:`_log_format`.
    # Unset: see :func:`_default_log_format` (from_env derives it).
    log_format: str = setting("LOG_FORMAT", "json", _log_format_of)
    # Set per process group so gunicorn workers share their metrics
    # (prometheus-client's multiprocess mode reads the same variable).
    metrics_dir: Path | None = setting("PROMETHEUS_MULTIPROC_DIR", None, _path)
    # Each service's own connection (as its own role); DATABASE_URL where unset.
    service_database_urls: Mapping[str, str] = field(default_factory=dict)
    # Passwords `frota migrate` gives the per-service roles (configured ones only).
    database_role_passwords: Mapping[str, str] = field(default_factory=dict)
    # Roles are cluster-wide: a second Frota on the same server needs its own prefix.
    db_role_prefix: str = setting("DB_ROLE_PREFIX", "frota")
    backup_dir: Path = setting("BACKUP_DIR", Path("backups"), _path)
    backup_keep_days: int = setting("BACKUP_KEEP_DAYS", 14, _int)
    media_prune_interval_minutes: int = setting("MEDIA_PRUNE_INTERVAL_MINUTES", 60, _int)
    # The job workers (`frota worker <service>`, shared/jobs.py): jobs run at once by
    # one worker process, and the port of each worker's /livez and /metrics.
    worker_concurrency: int = setting("WORKER_CONCURRENCY", 8, _int)
    fleet_worker_port: int = setting("FLEET_WORKER_PORT", 8012, _int)
    media_worker_port: int = setting("MEDIA_WORKER_PORT", 8013, _int)
    alerts_evaluate_minutes: int = setting("ALERTS_EVALUATE_MINUTES", 5, _int)
    # Finished jobs, events and webhook deliveries are kept this long, then purged.
    events_keep_days: int = setting("EVENTS_KEEP_DAYS", 30, _int)
    # Webhooks to loopback, private, link-local and metadata addresses, and over
    # plain http: refused unless this is set (tests, receivers on the premises).
    webhook_allow_private_networks: bool = setting("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False, _bool)
    webhook_timeout_seconds: float = setting("WEBHOOK_TIMEOUT_SECONDS", 10.0, _float)
    webhook_retry_base_seconds: float = setting("WEBHOOK_RETRY_BASE_SECONDS", 30.0, _float)
    # The daily digest's e-mail: unset SMTP_HOST sends none (and logs why).
    smtp_host: str = setting("SMTP_HOST", "")
    smtp_port: int = setting("SMTP_PORT", 587, _int)
    smtp_username: str = setting("SMTP_USERNAME", "")
    smtp_password: str = setting("SMTP_PASSWORD", "")
    smtp_starttls: bool = setting("SMTP_STARTTLS", True, _bool)
    smtp_from: str = setting("SMTP_FROM", "Frota <frota@localhost>")
    # The hour of the day (São Paulo time) the daily digest goes out.
    digest_hour: int = setting("DIGEST_HOUR", 7, _int)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (the process environment by default).

        Outside production, missing secrets are generated once into
        ``var/secrets`` so that every process of a local run shares them.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            f.name: f.metadata["parse"](raw, variable)
            for f in dataclasses.fields(cls)
            if (variable := f.metadata.get("variable")) and (raw := env.get(variable, ""))
        }
        # Defaults that depend on other settings.
        var_dir = values.setdefault("var_dir", cls.var_dir.resolve())
        values.setdefault("media_root", var_dir / "media")
        values.setdefault("backup_dir", cls.backup_dir.resolve())
        values.setdefault(
            "log_format", _default_log_format(values.get("environment", cls.environment))
        )
        ports = {part: values.get(f"{part}_port", getattr(cls, f"{part}_port")) for part in PARTS}
        values.setdefault("web_url", f"http://127.0.0.1:{ports['web']}")
        values.setdefault("api_url", f"http://127.0.0.1:{ports['gateway']}")
        # One variable per service (SERVICE_VARIABLES).
        values["service_urls"] = {
            name: env.get(f"{name.upper()}_URL") or f"http://127.0.0.1:{ports[name]}"
            for name in SERVICES
        }
        values["service_database_urls"] = {
            name: url for name in SERVICES if (url := env.get(f"{name.upper()}_DATABASE_URL"))
        }
        values["database_role_passwords"] = {
            name: password
            for name in SERVICES
            if (password := env.get(DB_PASSWORD_VARIABLES[name]))
        }
        settings = cls(**values)
        if settings.is_production:
            settings.check_production()
        else:
            settings = settings._with_local_secrets()
        settings.check_bounds()
        return settings

    def check_bounds(self) -> None:
        """Each setting within what it can mean (ConfigError naming it otherwise)."""
        if not 1 <= self.internal_token_ttl_seconds <= 60:
            raise ConfigError("INTERNAL_TOKEN_TTL_SECONDS must be between 1 and 60")
        if not DB_ROLE_PREFIX_PATTERN.fullmatch(self.db_role_prefix):
            raise ConfigError("DB_ROLE_PREFIX must be lower-case letters, digits and _")
        if self.media_image_decodes < 1:
            raise ConfigError("MEDIA_IMAGE_DECODES must be at least 1")
        if self.backup_keep_days < 1:
            raise ConfigError("BACKUP_KEEP_DAYS must be at least 1")
        if self.body_buffer_mb * 1024 < self.json_max_body_kb:
            # Else a body the limit allows could never be read: refused however quiet it is.
            raise ConfigError("BODY_BUFFER_MB must hold at least one body of JSON_MAX_BODY_KB")
        if min(self.max_uploads_in_flight, self.max_uploads_in_flight_per_user) < 1:
            raise ConfigError("MAX_UPLOADS_IN_FLIGHT(_PER_USER) must be at least 1")
        if self.worker_concurrency < 1:
            raise ConfigError("WORKER_CONCURRENCY must be at least 1")
        if not _runs_on_a_cron(self.media_prune_interval_minutes):
            raise ConfigError(
                "MEDIA_PRUNE_INTERVAL_MINUTES must divide an hour, or be whole hours that "
                "divide a day (0: never)"
            )
        if not 1 <= self.alerts_evaluate_minutes <= 60:
            raise ConfigError("ALERTS_EVALUATE_MINUTES must be between 1 and 60")
        if not 0 <= self.digest_hour <= 23:
            raise ConfigError("DIGEST_HOUR must be between 0 and 23")

    def _with_local_secrets(self) -> Settings:
        """Outside production: the secrets not set, from (or generated into) ``var/``."""
        missing: dict[str, str] = {}
        for path, names in (("secrets", LOCAL_SECRETS), ("web-secrets", WEB_SECRETS)):
            if not all(getattr(self, name.lower()) for name in names):
                stored = load_or_create_local_secrets(self.var_dir / path, names)
                missing |= {n.lower(): stored[n] for n in names if not getattr(self, n.lower())}
        return self.replace(**missing)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def port_of(self, part: str) -> int:
        """The port of a part of the stack: "gateway", ..., "fleet-worker", "media-worker"."""
        return int(getattr(self, f"{part.replace('-', '_')}_port"))

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def database_url_for(self, service: str) -> str | None:
        """The URL ``service`` connects with: its own role's, else the shared DATABASE_URL."""
        return self.service_database_urls.get(service) or self.database_url

    def database_role(self, service: str) -> str:
        """The name of ``service``'s own database role, e.g. ``frota_fleet``."""
        return f"{self.db_role_prefix}_{service}"

    def role_passwords(self) -> dict[str, str]:
        """The password of every service role, for `frota migrate` to set.

        Production takes them from ``*_DB_PASSWORD`` only; local runs generate the
        missing ones once into ``var/database-passwords``.
        """
        configured = dict(self.database_role_passwords)
        missing = [DB_PASSWORD_VARIABLES[s] for s in SERVICES if s not in configured]
        if missing and self.is_production:
            raise ConfigError(
                "refusing to start in production: " + ", ".join(missing) + " must be set"
            )
        if missing:
            stored = load_or_create_local_secrets(
                self.var_dir / "database-passwords", tuple(DB_PASSWORD_VARIABLES.values())
            )
            for service in SERVICES:
                configured.setdefault(service, stored[DB_PASSWORD_VARIABLES[service]])
        return configured

    def check_owner_database(self) -> None:
        """Refuse, in production, to migrate or back up without a strong DATABASE_URL.

        Only the commands that act as the database owner call this: the services
        connect as their own roles and the gateway has no database at all.
        """
        if not self.is_production:
            return
        if not self.database_url:
            raise ConfigError("refusing to start in production: DATABASE_URL is required")
        problem = _secret_problem("the password in DATABASE_URL", _url_password(self.database_url))
        if problem:
            raise ConfigError(f"refusing to start in production: {problem}")

    def check_production(self) -> None:
        """Refuse to run in production with missing, default or short secrets.

        A database URL is not required here: the gateway has none, and each
        service fails at start-up without its own. The database passwords a
        process was given must be as strong as the secrets.
        """
        problems = [
            _secret_problem(name, getattr(self, name.lower()))
            for name in (*LOCAL_SECRETS, *WEB_SECRETS)
        ]
        keys = [self.jwt_secret_key, self.internal_secret_key, self.web_secret_key]
        if len(set(keys)) < len(keys):
            problems.append("JWT_SECRET_KEY, INTERNAL_SECRET_KEY and WEB_SECRET_KEY must differ")
        for service, password in self.database_role_passwords.items():
            problems.append(_secret_problem(DB_PASSWORD_VARIABLES[service], password))
        for service, url in self.service_database_urls.items():
            name = f"the password in {service.upper()}_DATABASE_URL"
            problems.append(_secret_problem(name, _url_password(url)))
        problems = [problem for problem in problems if problem]
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


def _default_log_format(environment: str) -> str:
    """Without LOG_FORMAT: readable lines for a person at a terminal, JSON for the rest.

    Containers, log files, pipes and production get JSON: what a collector parses.
    """
    return "console" if environment != "production" and sys.stderr.isatty() else "json"


def variables() -> set[str]:
    """Every environment variable the settings are read from."""
    declared = {f.metadata["variable"] for f in dataclasses.fields(Settings) if f.metadata}
    per_service = {pattern.format(s.upper()) for pattern in SERVICE_VARIABLES for s in SERVICES}
    return declared | per_service


def _secret_problem(name: str, value: str) -> str:
    """What is wrong with a production secret or password ("" when nothing is)."""
    if value.strip().lower() in PLACEHOLDER_SECRETS:
        return f"{name} is missing or a placeholder value"
    if len(value) < MIN_SECRET_LENGTH:
        return f"{name} must be at least {MIN_SECRET_LENGTH} characters"
    return ""


def _url_password(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def load_or_create_local_secrets(
    path: Path, names: tuple[str, ...] = LOCAL_SECRETS
) -> dict[str, str]:
    """Return the local-run secrets ``names`` stored in ``path``, creating them on first use.

    Creation is atomic (write to a temporary file, then hard-link into place), so
    processes racing at start-up all end up with the same keys.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # URL-safe: the database passwords are spliced into connection URLs.
        fresh = {name: secrets.token_urlsafe(48) for name in names}
        # mkstemp: a name unique per call (threads of one process too) and a
        # file that is 0600 from the start, never briefly world-readable.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w") as tmp_file:
                tmp_file.write(json.dumps(fresh))
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return json.loads(path.read_text())
