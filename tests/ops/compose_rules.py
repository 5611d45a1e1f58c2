"""The rules docker-compose.yml must keep, as a function over the parsed file.

`check_compose` returns one sentence per broken rule (an empty list when the
file is sound), so a test can show that removing a health check or a limit is
caught, on a mutated copy.
"""

from __future__ import annotations

import re
from typing import Any

API_SERVICES = ("auth", "fleet", "media", "web", "gateway")
# The job workers, each with its service's queue and its /livez port.
WORKERS = {"fleet-worker": ("fleet", 8012), "media-worker": ("media", 8013)}
# A stopped worker finishes its running jobs for up to 20 s (shared/jobs.py).
WORKER_STOP_GRACE_SECONDS = 25
# Only the container that sends the digest sees the SMTP credentials.
SMTP_SECRETS = ("SMTP_USERNAME", "SMTP_PASSWORD")
JOBS = ("migrate", "backup")  # one-shot: run to completion, never restarted
DATABASE_SERVICES = ("auth", "fleet", "media")

# From the seed guide: the API containers and the database.
API_LIMITS = {
    "limits": {"cpus": "2.0", "memory": "1G"},
    "reservations": {"cpus": "0.5", "memory": "512M"},
}
DB_LIMITS = {
    "limits": {"cpus": "1.0", "memory": "512M"},
    "reservations": {"cpus": "0.25", "memory": "256M"},
}
DB_SETTINGS = {
    "max_connections": "100",
    "shared_buffers": "256MB",
    "effective_cache_size": "1GB",
    "random_page_cost": "1.1",
    "shared_preload_libraries": "pg_stat_statements",
}
PARALLEL_SETTINGS = (
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
)
SECRETS = ("JWT_SECRET_KEY", "INTERNAL_SECRET_KEY", "WEB_SECRET_KEY", "POSTGRES_PASSWORD")
OWNER_ONLY = re.compile(r"^(DATABASE_URL|POSTGRES_PASSWORD|\w+_DB_PASSWORD)$")


def check_compose(compose: dict[str, Any]) -> list[str]:
    """Every way ``compose`` (docker-compose.yml, parsed) breaks the production rules."""
    services = compose.get("services", {})
    problems = [
        f"service {name} is missing"
        for name in ("db", "redis", *API_SERVICES, *WORKERS, *JOBS)
        if name not in services
    ]
    for name, service in services.items():
        problems += [f"{name}: {problem}" for problem in _service_problems(name, service, services)]
    problems += _database_problems(services.get("db", {}), services)
    for name in ("media", "media-worker"):
        problems += _media_volume_problems(compose, name, services.get(name, {}))
    return problems


def _service_problems(name: str, service: dict[str, Any], services: dict[str, Any]) -> list[str]:
    problems = []
    is_job = name in JOBS
    expected_restart = "no" if is_job else "unless-stopped"
    if service.get("restart") != expected_restart:
        problems.append(f"restart must be {expected_restart!r}")
    if not is_job:
        problems += _health_problems(name, service.get("healthcheck"))
    resources = service.get("deploy", {}).get("resources", {})
    limits = resources.get("limits", {})
    if not (limits.get("cpus") and limits.get("memory")):
        problems.append("needs CPU and memory limits")
    if name in API_SERVICES and resources != API_LIMITS:
        problems.append(f"resources must be the seed's {API_LIMITS}")
    if service.get("ports") and name != "gateway":
        problems.append("publishes a port (only the gateway may)")
    if service.get("container_name"):
        # deploy/update.sh runs a new container of a service beside the old one.
        problems.append("must not fix container_name (updates run two containers at once)")
    for dependency, condition in _dependencies(service).items():
        wanted = "service_completed_successfully" if dependency in JOBS else "service_healthy"
        if condition != wanted:
            problems.append(f"must wait for {dependency} with condition {wanted}")
    if name in API_SERVICES:
        problems += _api_problems(name, service)
    if name in WORKERS:
        problems += _worker_problems(name, service)
    if name != "fleet-worker" and any(v in _environment(service) for v in SMTP_SECRETS):
        problems.append("must not see the SMTP credentials (only fleet-worker sends e-mail)")
    image = service.get("image", "")
    if image and (":" not in image or image.endswith(":latest")):
        problems.append(f"image {image!r} must name a version, not latest")
    for variable, value in _environment(service).items():
        if variable in SECRETS and f"${{{variable}:?" not in str(value):
            problems.append(
                f"{variable} must come from .env and be required (${{{variable}:?...}})"
            )
    return problems


def _health_problems(name: str, healthcheck: dict[str, Any] | None) -> list[str]:
    if not healthcheck or not healthcheck.get("test") or healthcheck.get("disable"):
        return ["needs a health check"]
    expected = {"db": "10s", **dict.fromkeys((*API_SERVICES, *WORKERS), "30s")}.get(name)
    if expected and healthcheck.get("interval") != expected:
        return [f"health check must run every {expected}"]
    return []


def _api_problems(name: str, service: dict[str, Any]) -> list[str]:
    problems = []
    if service.get("command") != ["frota", "serve", name]:
        problems.append(f"must run `frota serve {name}` (gunicorn)")
    env = _environment(service)
    if env.get("WEB_CONCURRENCY") != "${WEB_CONCURRENCY:-4}":
        problems.append("gunicorn workers must come from WEB_CONCURRENCY (default 4)")
    own_urls = sorted(v for v in env if v.endswith("_DATABASE_URL"))
    if name == "gateway" and own_urls:
        problems.append("the gateway has no database: no database URL")
    problems += _role_problems(name if name in DATABASE_SERVICES else None, env)
    return problems


def _role_problems(service: str | None, env: dict[str, Any]) -> list[str]:
    """The owner's credentials reach no process; a service's connects as its own role."""
    problems = []
    owner_variables = sorted(v for v in env if OWNER_ONLY.match(v))
    if owner_variables:
        problems.append(f"must not see the owner's credentials: {', '.join(owner_variables)}")
    if service is not None:
        own_urls = sorted(v for v in env if v.endswith("_DATABASE_URL"))
        variable = f"{service.upper()}_DATABASE_URL"
        if own_urls != [variable] or f"//frota_{service}:" not in str(env[variable]):
            problems.append(f"must connect as role frota_{service} through {variable} only")
    return problems


def _worker_problems(name: str, service: dict[str, Any]) -> list[str]:
    queue, port = WORKERS[name]
    problems = []
    if service.get("command") != ["frota", "worker", queue]:
        problems.append(f"must run `frota worker {queue}`")
    probe = " ".join(str(part) for part in (service.get("healthcheck") or {}).get("test", []))
    if f"http://127.0.0.1:{port}/livez" not in probe:
        problems.append(f"health check must ask the worker's /livez on port {port}")
    if _seconds(service.get("stop_grace_period", "10s")) < WORKER_STOP_GRACE_SECONDS:
        problems.append(
            f"stop_grace_period must leave running jobs {WORKER_STOP_GRACE_SECONDS} s at least"
        )
    dependencies = _dependencies(service)
    if not {"db", "migrate"} <= set(dependencies):
        problems.append("must wait for db and migrate")
    problems += _role_problems(queue, _environment(service))
    return problems


def _seconds(duration: str) -> int:
    """Compose's duration ("30s", "1m30s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[unit] for n, unit in re.findall(r"(\d+)([hms])", duration))


def _database_problems(db: dict[str, Any], services: dict[str, Any]) -> list[str]:
    settings = dict(
        item.split("=", 1)
        for item in db.get("command", [])
        if isinstance(item, str) and "=" in item
    )
    problems = [
        f"db: {key} must be {value}"
        for key, value in DB_SETTINGS.items()
        if settings.get(key) != value
    ]
    if not all(int(settings.get(key, "0")) > 0 for key in PARALLEL_SETTINGS):
        problems.append("db: parallel workers must be on")
    if db.get("deploy", {}).get("resources") != DB_LIMITS:
        problems.append(f"db: resources must be the seed's {DB_LIMITS}")
    match = re.fullmatch(r"postgres:(\d+)[\w.-]*", db.get("image", ""))
    if not match or int(match[1]) < 16:
        problems.append("db: must run PostgreSQL 16 or newer")
    elif any(
        service.get("build", {}).get("args", {}).get("PG_MAJOR") != match[1]
        for service in services.values()
        if "build" in service
    ):
        problems.append("db: PG_MAJOR of the app image must equal the db image's major version")
    return problems


def _media_volume_problems(compose: dict[str, Any], name: str, media: dict[str, Any]) -> list[str]:
    mounts = [m.split(":")[:2] for m in media.get("volumes", []) if isinstance(m, str)]
    named = [source for source, target in mounts if target == "/data/media"]
    if not named or named[0] not in (compose.get("volumes") or {}):
        return [f"{name}: the media files must live in a named volume at /data/media"]
    return []


def _dependencies(service: dict[str, Any]) -> dict[str, str | None]:
    depends_on = service.get("depends_on", {})
    if isinstance(depends_on, list):  # the short form waits for nothing but the start
        return dict.fromkeys(depends_on)
    return {name: (spec or {}).get("condition") for name, spec in depends_on.items()}


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env
