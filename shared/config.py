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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

SERVICES = ("auth", "fleet", "media")

# Secrets shorter than this, or equal to a well-known placeholder, are refused
# in production: the seed's checklist asks for a strong (64 character) key.
MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset({"changeme", "secret", "change-me", "dev", "test", ""})
# The secrets generated once into var/secrets for local runs (never in production).
LOCAL_SECRETS = ("JWT_SECRET_KEY", "INTERNAL_SECRET_KEY")
# Passwords of the per-service database roles; generated into var/ for local runs too.
DB_PASSWORD_VARIABLES = {service: f"{service.upper()}_DB_PASSWORD" for service in SERVICES}
LOG_FORMATS = ("console", "json")
# Role names are prefix + "_" + service; the prefix is spliced into SQL identifiers.
DB_ROLE_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ConfigError(RuntimeError):
    """The environment describes a configuration Frota refuses to run with."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Everything a Frota process may be configured with.

    Build it with :meth:`from_env`; tests use :meth:`replace` for overrides.
    """

    environment: str = "development"
    var_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "frota"
    jwt_secret_key: str = ""
    internal_secret_key: str = ""
    jwt_access_token_hours: float = 24.0
    jwt_refresh_token_days: float = 30.0
    admin_password: str | None = None
    rate_limit_default: str = "60/minute"
    rate_limit_login: str = "10/minute"
    # Successful logins (each costs an Argon2 hash and an audit row), counted
    # in PostgreSQL by the auth service; a depot shift behind one NAT fits.
    rate_limit_logins_per_account: str = "30/10minutes"
    rate_limit_logins_per_address: str = "300/10minutes"
    trusted_proxies: tuple[str, ...] = ()
    redis_timeout_seconds: float = 0.25
    cors_origins: tuple[str, ...] = ()
    metrics_allowed_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    plate_format: str = "br"
    media_root: Path = Path("var/media")
    media_max_upload_mb: int = 50
    media_quota_mb: int = 10240
    media_retention_days: int = 60
    # Pixels a thumbnail may decode (JPEG/HEIC reduced first; WebP and alpha weigh more).
    media_max_image_pixels: int = 50_000_000
    media_image_decodes: int = 2
    media_image_decode_wait_seconds: float = 5.0
    media_upload_idle_seconds: float = 60.0
    json_max_body_kb: int = 1024
    web_concurrency: int = 4
    gateway_port: int = 8000
    auth_port: int = 8001
    fleet_port: int = 8002
    media_port: int = 8003
    bind_host: str = "127.0.0.1"
    service_urls: Mapping[str, str] = field(default_factory=dict)
    upstream_connect_timeout: float = 2.0
    upstream_read_timeout: float = 30.0
    upload_read_timeout: float = 300.0
    # Slow and stalled clients (gateway/bodies.py, gateway/uploads.py say why).
    body_read_timeout_seconds: float = 10.0
    body_buffer_mb: int = 64
    client_idle_timeout_seconds: float = 30.0
    max_uploads_in_flight: int = 2
    max_uploads_in_flight_per_user: int = 1
    internal_token_ttl_seconds: int = 30
    db_pool_size: int = 20
    db_max_overflow: int = 30
    db_pool_recycle: int = 3600
    log_level: str = "INFO"
    # "console" (one readable line per record) or "json"; see :func:`_log_format`.
    log_format: str = "json"
    # Set per process group so gunicorn workers share their metrics
    # (prometheus-client's multiprocess mode reads the same variable).
    metrics_dir: Path | None = None
    # Each service's own connection (as its own role); DATABASE_URL where unset.
    service_database_urls: Mapping[str, str] = field(default_factory=dict)
    # Passwords `frota migrate` gives the per-service roles (configured ones only).
    database_role_passwords: Mapping[str, str] = field(default_factory=dict)
    # Roles are cluster-wide: a second Frota on the same server needs its own prefix.
    db_role_prefix: str = "frota"
    backup_dir: Path = Path("backups")
    backup_keep_days: int = 14
    media_prune_interval_minutes: int = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (the process environment by default).

        Outside production, missing secrets are generated once into
        ``var/secrets`` so that every process of a local run shares them.
        """
        env = os.environ if env is None else env
        var_dir = Path(env.get("FROTA_VAR_DIR", "var")).resolve()
        environment = env.get("FROTA_ENV", "development").strip().lower()
        ports = {
            "gateway": _int(env, "GATEWAY_PORT", 8000),
            "auth": _int(env, "AUTH_PORT", 8001),
            "fleet": _int(env, "FLEET_PORT", 8002),
            "media": _int(env, "MEDIA_PORT", 8003),
        }
        service_urls = {
            name: env.get(f"{name.upper()}_URL") or f"http://127.0.0.1:{ports[name]}"
            for name in SERVICES
        }
        settings = cls(
            environment=environment,
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or cls.redis_url,
            redis_prefix=env.get("REDIS_PREFIX") or cls.redis_prefix,
            jwt_secret_key=env.get("JWT_SECRET_KEY", ""),
            internal_secret_key=env.get("INTERNAL_SECRET_KEY", ""),
            jwt_access_token_hours=_float(env, "JWT_ACCESS_TOKEN_HOURS", 24.0),
            jwt_refresh_token_days=_float(env, "JWT_REFRESH_TOKEN_DAYS", 30.0),
            admin_password=env.get("FROTA_ADMIN_PASSWORD") or None,
            rate_limit_default=env.get("RATE_LIMIT_DEFAULT") or cls.rate_limit_default,
            rate_limit_login=env.get("RATE_LIMIT_LOGIN") or cls.rate_limit_login,
            rate_limit_logins_per_account=env.get("RATE_LIMIT_LOGINS_PER_ACCOUNT")
            or cls.rate_limit_logins_per_account,
            rate_limit_logins_per_address=env.get("RATE_LIMIT_LOGINS_PER_ADDRESS")
            or cls.rate_limit_logins_per_address,
            trusted_proxies=_list(env, "TRUSTED_PROXIES"),
            redis_timeout_seconds=_float(env, "REDIS_TIMEOUT_SECONDS", 0.25),
            cors_origins=_list(env, "CORS_ORIGINS"),
            metrics_allowed_networks=_list(env, "METRICS_ALLOWED_NETWORKS")
            or cls.metrics_allowed_networks,
            plate_format=(env.get("PLATE_FORMAT") or "br").lower(),
            media_root=Path(env.get("MEDIA_ROOT") or var_dir / "media").resolve(),
            media_max_upload_mb=_int(env, "MEDIA_MAX_UPLOAD_MB", 50),
            media_quota_mb=_int(env, "MEDIA_QUOTA_MB", 10240),
            media_retention_days=_int(env, "MEDIA_RETENTION_DAYS", 60),
            media_max_image_pixels=_int(env, "MEDIA_MAX_IMAGE_PIXELS", 50_000_000),
            media_image_decodes=_int(env, "MEDIA_IMAGE_DECODES", 2),
            media_image_decode_wait_seconds=_float(env, "MEDIA_IMAGE_DECODE_WAIT_SECONDS", 5.0),
            media_upload_idle_seconds=_float(env, "MEDIA_UPLOAD_IDLE_SECONDS", 60.0),
            json_max_body_kb=_int(env, "JSON_MAX_BODY_KB", 1024),
            web_concurrency=_int(env, "WEB_CONCURRENCY", 4),
            gateway_port=ports["gateway"],
            auth_port=ports["auth"],
            fleet_port=ports["fleet"],
            media_port=ports["media"],
            bind_host=env.get("BIND_HOST") or cls.bind_host,
            service_urls=service_urls,
            upstream_connect_timeout=_float(env, "UPSTREAM_CONNECT_TIMEOUT", 2.0),
            upstream_read_timeout=_float(env, "UPSTREAM_READ_TIMEOUT", 30.0),
            upload_read_timeout=_float(env, "UPLOAD_READ_TIMEOUT", 300.0),
            body_read_timeout_seconds=_float(env, "BODY_READ_TIMEOUT_SECONDS", 10.0),
            body_buffer_mb=_int(env, "BODY_BUFFER_MB", 64),
            client_idle_timeout_seconds=_float(env, "CLIENT_IDLE_TIMEOUT_SECONDS", 30.0),
            max_uploads_in_flight=_int(env, "MAX_UPLOADS_IN_FLIGHT", 2),
            max_uploads_in_flight_per_user=_int(env, "MAX_UPLOADS_IN_FLIGHT_PER_USER", 1),
            internal_token_ttl_seconds=_int(env, "INTERNAL_TOKEN_TTL_SECONDS", 30),
            db_pool_size=_int(env, "DB_POOL_SIZE", 20),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 30),
            db_pool_recycle=_int(env, "DB_POOL_RECYCLE", 3600),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_format=_log_format(env, environment),
            metrics_dir=Path(env["PROMETHEUS_MULTIPROC_DIR"])
            if env.get("PROMETHEUS_MULTIPROC_DIR")
            else None,
            service_database_urls={
                name: url for name in SERVICES if (url := env.get(f"{name.upper()}_DATABASE_URL"))
            },
            database_role_passwords={
                name: password
                for name in SERVICES
                if (password := env.get(f"{name.upper()}_DB_PASSWORD"))
            },
            db_role_prefix=env.get("DB_ROLE_PREFIX") or cls.db_role_prefix,
            backup_dir=Path(env.get("BACKUP_DIR") or "backups").resolve(),
            backup_keep_days=_int(env, "BACKUP_KEEP_DAYS", 14),
            media_prune_interval_minutes=_int(env, "MEDIA_PRUNE_INTERVAL_MINUTES", 60),
        )
        if settings.is_production:
            settings.check_production()
        elif not (settings.jwt_secret_key and settings.internal_secret_key):
            stored = load_or_create_local_secrets(var_dir / "secrets")
            settings = settings.replace(
                jwt_secret_key=settings.jwt_secret_key or stored["JWT_SECRET_KEY"],
                internal_secret_key=settings.internal_secret_key or stored["INTERNAL_SECRET_KEY"],
            )
        if not 1 <= settings.internal_token_ttl_seconds <= 60:
            raise ConfigError("INTERNAL_TOKEN_TTL_SECONDS must be between 1 and 60")
        if not DB_ROLE_PREFIX_PATTERN.fullmatch(settings.db_role_prefix):
            raise ConfigError("DB_ROLE_PREFIX must be lower-case letters, digits and _")
        if settings.media_image_decodes < 1:
            raise ConfigError("MEDIA_IMAGE_DECODES must be at least 1")
        if settings.backup_keep_days < 1:
            raise ConfigError("BACKUP_KEEP_DAYS must be at least 1")
        if settings.body_buffer_mb * 1024 < settings.json_max_body_kb:
            # Else a body the limit allows could never be read: refused however quiet it is.
            raise ConfigError("BODY_BUFFER_MB must hold at least one body of JSON_MAX_BODY_KB")
        if min(settings.max_uploads_in_flight, settings.max_uploads_in_flight_per_user) < 1:
            raise ConfigError("MAX_UPLOADS_IN_FLIGHT(_PER_USER) must be at least 1")
        return settings

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def port_of(self, part: str) -> int:
        return int(getattr(self, f"{part}_port"))

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
        problems = [_secret_problem(name, getattr(self, name.lower())) for name in LOCAL_SECRETS]
        if self.jwt_secret_key and self.jwt_secret_key == self.internal_secret_key:
            problems.append("JWT_SECRET_KEY and INTERNAL_SECRET_KEY must differ")
        for service, password in self.database_role_passwords.items():
            problems.append(_secret_problem(DB_PASSWORD_VARIABLES[service], password))
        for service, url in self.service_database_urls.items():
            name = f"the password in {service.upper()}_DATABASE_URL"
            problems.append(_secret_problem(name, _url_password(url)))
        problems = [problem for problem in problems if problem]
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


def _log_format(env: Mapping[str, str], environment: str) -> str:
    """LOG_FORMAT, else readable lines for a person at a terminal and JSON for the rest.

    Containers, log files, pipes and production get JSON: what a collector parses.
    """
    raw = (env.get("LOG_FORMAT") or "").strip().lower()
    if not raw:
        return "console" if environment != "production" and sys.stderr.isatty() else "json"
    if raw not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {raw!r}")
    return raw


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
