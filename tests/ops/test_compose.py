"""docker-compose.yml keeps the production rules, and the checker notices when it does not."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from frota.stack import gunicorn_command
from shared.config import Settings
from tests.ops.compose_rules import check_compose

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_the_compose_file_keeps_every_production_rule(compose):
    assert check_compose(compose) == []


def without(path: str) -> Callable[[dict[str, Any]], None]:
    """A mutation that deletes the key at ``path`` (dot-separated) from the parsed file."""

    def mutate(compose: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = compose
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def setting(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = compose
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def db_flag(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        command = compose["services"]["db"]["command"]
        command[command.index(old)] = new

    return mutate


MUTATIONS = {
    "fleet health check removed": (
        without("services.fleet.healthcheck"),
        "fleet: needs a health check",
    ),
    "db probed every 30 s": (
        setting("services.db.healthcheck.interval", "30s"),
        "db: health check must run every 10s",
    ),
    "media memory limit removed": (
        without("services.media.deploy.resources.limits.memory"),
        "media: needs CPU and memory limits",
    ),
    "db limits removed": (
        without("services.db.deploy"),
        "db: needs CPU and memory limits",
    ),
    "gateway CPU limit raised": (
        setting("services.gateway.deploy.resources.limits.cpus", "4.0"),
        "gateway: resources must be the seed's",
    ),
    "fleet with a fixed container name": (
        setting("services.fleet.container_name", "frota-fleet"),
        "fleet: must not fix container_name",
    ),
    "db published": (
        setting("services.db.ports", ["5432:5432"]),
        "db: publishes a port (only the gateway may)",
    ),
    "auth restarted always": (
        setting("services.auth.restart", "always"),
        "auth: restart must be 'unless-stopped'",
    ),
    "fleet starts before the database is healthy": (
        setting("services.fleet.depends_on.db.condition", "service_started"),
        "fleet: must wait for db with condition service_healthy",
    ),
    "gateway given the owner's database": (
        setting("services.gateway.environment", {"DATABASE_URL": "postgresql://db/frota"}),
        "gateway: must not see the owner's credentials: DATABASE_URL",
    ),
    "fleet connects as the owner": (
        setting("services.fleet.environment.FLEET_DATABASE_URL", "postgresql://frota:x@db/frota"),
        "fleet: must connect as role frota_fleet",
    ),
    "shared_buffers changed": (
        db_flag("shared_buffers=256MB", "shared_buffers=128MB"),
        "db: shared_buffers must be 256MB",
    ),
    "pg_stat_statements not preloaded": (
        db_flag("shared_preload_libraries=pg_stat_statements", "shared_preload_libraries="),
        "db: shared_preload_libraries must be pg_stat_statements",
    ),
    "PostgreSQL 15": (
        setting("services.db.image", "postgres:15-bookworm"),
        "db: must run PostgreSQL 16 or newer",
    ),
    "db upgraded without the client": (
        setting("services.db.image", "postgres:17-bookworm"),
        "db: PG_MAJOR of the app image must equal the db image's major version",
    ),
    "secret with a default": (
        setting("services.db.environment.POSTGRES_PASSWORD", "${POSTGRES_PASSWORD:-changeme}"),
        "db: POSTGRES_PASSWORD must come from .env and be required",
    ),
    "media files in a bind mount": (
        setting("services.media.volumes", ["./media:/data/media"]),
        "media: the media files must live in a named volume at /data/media",
    ),
    "fleet-worker missing": (
        without("services.fleet-worker"),
        "service fleet-worker is missing",
    ),
    "media-worker health check removed": (
        without("services.media-worker.healthcheck"),
        "media-worker: needs a health check",
    ),
    "fleet-worker probed on the service's port": (
        setting(
            "services.fleet-worker.healthcheck.test",
            ["CMD", "python", "-c", "urlopen('http://127.0.0.1:8002/health')"],
        ),
        "fleet-worker: health check must ask the worker's /livez on port 8012",
    ),
    "media-worker runs the fleet queue": (
        setting("services.media-worker.command", ["frota", "worker", "fleet"]),
        "media-worker: must run `frota worker media`",
    ),
    "fleet-worker stopped before its jobs can finish": (
        setting("services.fleet-worker.stop_grace_period", "10s"),
        "fleet-worker: stop_grace_period must leave running jobs 25 s at least",
    ),
    "media-worker restarted never": (
        setting("services.media-worker.restart", "no"),
        "media-worker: restart must be 'unless-stopped'",
    ),
    "fleet-worker without limits": (
        without("services.fleet-worker.deploy"),
        "fleet-worker: needs CPU and memory limits",
    ),
    "fleet-worker starts before the migrations": (
        without("services.fleet-worker.depends_on.migrate"),
        "fleet-worker: must wait for db and migrate",
    ),
    "media-worker connects as the owner": (
        setting(
            "services.media-worker.environment.MEDIA_DATABASE_URL",
            "postgresql://frota:x@db/frota",
        ),
        "media-worker: must connect as role frota_media",
    ),
    "fleet-worker given the owner's password": (
        setting("services.fleet-worker.environment.FLEET_DB_PASSWORD", "${FLEET_DB_PASSWORD:?}"),
        "fleet-worker: must not see the owner's credentials: FLEET_DB_PASSWORD",
    ),
    "media-worker without the media volume": (
        without("services.media-worker.volumes"),
        "media-worker: the media files must live in a named volume at /data/media",
    ),
    "SMTP password given to every container": (
        setting("x-app-env.SMTP_PASSWORD", "${SMTP_PASSWORD:-}"),
        "gateway: must not see the SMTP credentials",
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_the_checker_catches_a_broken_rule(compose, mutation):
    mutate, expected = MUTATIONS[mutation]
    broken = copy.deepcopy(compose)
    mutate(broken)

    problems = check_compose(broken)

    assert any(expected in problem for problem in problems), problems


def test_only_the_gateway_publishes_and_on_the_loopback_by_default(compose):
    published = {name: s["ports"] for name, s in compose["services"].items() if s.get("ports")}

    assert published == {"gateway": ["${GATEWAY_PUBLISH:-127.0.0.1:8000}:8000"]}


def test_gunicorn_runs_web_concurrency_workers_recycled_with_jitter(tmp_path):
    settings = Settings.from_env({"FROTA_VAR_DIR": str(tmp_path), "WEB_CONCURRENCY": "4"})

    command = gunicorn_command("fleet", settings)

    assert command[command.index("--workers") + 1] == "4"
    assert int(command[command.index("--max-requests") + 1]) > 0
    assert int(command[command.index("--max-requests-jitter") + 1]) > 0
