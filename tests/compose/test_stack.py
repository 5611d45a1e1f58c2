"""The production stack in real containers: what docs/operations.md promises an operator.

Run by `make test-compose` (not by `make test`), in this order, on one stack.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal

import requests

from tests.compose.conftest import BACKUPS
from tests.compose.stack import LONG_RUNNING, MEASURED, REPO, Compose, run, timed, wait_until
from tests.compose.update import measure_update
from tests.support.files import jpeg_bytes

# What the tests pass on to the ones after them: the admin's token, the backup.
state: dict[str, str] = {}
UPDATE_DOWNTIME_BOUND_SECONDS = 10
BACKUP_FILES = (".sql.gz", ".media.tar", ".manifest.json")
UPDATE = REPO / "deploy" / "update.sh"
APP_SERVICES = ("auth", "fleet", "media", "web", "gateway", "fleet-worker", "media-worker")
COUNTS = (
    "SELECT (SELECT count(*) FROM auth.users) AS users,"
    " (SELECT count(*) FROM fleet.vehicles) AS vehicles,"
    " (SELECT count(*) FROM media.files) AS files"
)


def health_of(stack: Compose) -> dict[str, str]:
    return {
        c["Service"]: c.get("Health", "") for c in stack.containers() if c["State"] == "running"
    }


def test_every_container_is_healthy_and_migrate_finished(stack: Compose):
    containers = {c["Service"]: c for c in stack.containers()}

    assert {s: health_of(stack).get(s) for s in LONG_RUNNING} == dict.fromkeys(
        LONG_RUNNING, "healthy"
    )
    assert containers["migrate"]["State"] == "exited"
    assert containers["migrate"]["ExitCode"] == 0
    assert "backup" not in containers  # profile "tools": only `compose run` starts it


def test_postgres_is_not_published_only_the_gateway_is(stack: Compose):
    bindings = {
        service: stack.inspect(service, "{{json .HostConfig.PortBindings}}")
        for service in LONG_RUNNING
    }

    published = f'{{"8000/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{stack.port}"}}]}}'
    assert bindings.pop("gateway") == published
    assert set(bindings.values()) == {"{}"}


def test_health_is_200_through_the_published_port(stack: Compose):
    response = requests.get(f"{stack.url}/health", timeout=10)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["redis"]["status"] == "ok"
    assert {name: s["status"] for name, s in body["services"].items()} == {
        "auth": "ok",
        "fleet": "ok",
        "media": "ok",
    }


def sql(stack: Compose, query: str) -> str:
    return stack("exec", "-T", "db", "psql", "-U", "frota", "-d", "frota", "-tAc", query).stdout


def test_the_workers_take_their_queues_and_run_a_job(stack: Compose):
    workers = sql(
        stack,
        "SELECT (SELECT count(*) FROM fleet.procrastinate_workers),"
        " (SELECT count(*) FROM media.procrastinate_workers)",
    )
    assert workers.strip() == "1|1"
    # A tick of the media worker's prune, as procrastinate defers it each hour.
    sql(
        stack,
        "INSERT INTO media.procrastinate_jobs (queue_name, task_name, args) VALUES"
        " ('media', 'media.prune', json_build_object('timestamp', extract(epoch FROM now())::int))",
    )
    with timed("a prune job run by the media worker"):
        wait_until(
            "the prune job done (a succeeded job is deleted)",
            lambda: sql(stack, "SELECT count(*) FROM media.procrastinate_jobs").strip() == "0",
            timeout=60,
        )
    assert sql(stack, "SELECT last_pruned_at IS NOT NULL FROM media.usage").strip() == "t"


def test_first_admin_changes_the_password_then_a_vehicle_and_a_photo(stack: Compose):
    log = stack("logs", "--no-log-prefix", "migrate").stdout
    one_time = re.search(r"one-time password \(shown once.*\): (\S+)", log)
    assert one_time, f"no one-time password in the migrate job's log:\n{log}"
    http = requests.Session()
    first = http.post(
        f"{stack.url}/api/v1/auth/login",
        json={"username": "admin", "password": one_time[1]},
        timeout=10,
    )
    assert first.status_code == 200, first.text
    gated = http.get(
        f"{stack.url}/api/v1/fleet/vehicles",
        headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        timeout=10,
    )
    assert gated.status_code == 403
    assert gated.json()["error"]["code"] == "password_change_required"
    changed = http.post(
        f"{stack.url}/api/v1/auth/me/password",
        headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        json={"current_password": one_time[1], "new_password": "compose-test-admin-password"},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    state["token"] = changed.json()["access_token"]
    auth = {"Authorization": f"Bearer {state['token']}"}

    vehicle = http.post(
        f"{stack.url}/api/v1/fleet/vehicles",
        headers=auth,
        json={
            "plate": "CMP1A23",
            "make": "Fiat",
            "model": "Strada",
            "year": 2024,
            "fuel_types": ["gasoline", "ethanol"],
        },
        timeout=10,
    )
    assert vehicle.status_code == 201, vehicle.text
    photo = jpeg_bytes(200_000)
    uploaded = http.post(
        f"{stack.url}/api/v1/media/files",
        headers=auth,
        files={"file": ("dash.jpg", photo, "image/jpeg")},
        data={"kind": "photo"},
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["sha256"] == hashlib.sha256(photo).hexdigest()
    downloaded = http.get(
        f"{stack.url}/api/v1/media/files/{uploaded.json()['id']}/content", headers=auth, timeout=30
    )
    assert downloaded.status_code == 200
    assert downloaded.content == photo


def test_the_console_signs_the_admin_in_through_the_gateway(stack: Compose):
    browser = requests.Session()
    page = browser.get(f"{stack.url}/login", headers={"Accept-Language": "en"}, timeout=10)
    assert page.status_code == 200, page.text
    assert "Sign in" in page.text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token, page.text
    signed_in = browser.post(
        f"{stack.url}/login",
        data={
            "csrf_token": token[1],
            "username": "admin",
            "password": "compose-test-admin-password",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text
    # The console's own call to the API, from its container, as the admin.
    vehicles = browser.get(f"{stack.url}/vehicles", timeout=10)
    assert vehicles.status_code == 200
    assert "CMP1A23" in vehicles.text


def test_the_backup_job_writes_a_backup_that_verifies(stack: Compose):
    with timed("backup job (compose run --rm backup)"):
        made = stack("run", "--rm", "-T", "backup", timeout=300).stdout
    manifest = re.search(r"manifest: /backups/(\S+\.manifest\.json)", made)
    assert manifest, made
    name = manifest[1].removesuffix(".manifest.json")
    stack.backups_made += [BACKUPS / f"{name}{suffix}" for suffix in BACKUP_FILES]
    assert "(1 media files)" in made, made

    verified = stack(
        "run", "--rm", "-T", "backup", "frota", "verify-backup", f"/backups/{manifest[1]}"
    ).stdout

    assert f"backup {name} is intact (1 media files)" in verified
    state["backup"] = name


def test_the_restore_drill_of_the_operations_guide(stack: Compose):
    """docs/operations.md section 7, command for command: restore into a scratch database."""
    production = stack("exec", "-T", "db", "psql", "-U", "frota", "-d", "frota", "-tAc", COUNTS)
    stack("exec", "-T", "db", "createdb", "-U", "frota", "frota_drill")
    drill = (
        'export DATABASE_URL="${DATABASE_URL%/frota}/frota_drill"'
        " MEDIA_ROOT=/backups/.drill-media\n"
        'frota restore "$(ls -1 /backups/*.manifest.json | tail -n 1)" --yes &&\n'
        f'psql "$DATABASE_URL" -tA -c "{COUNTS}"\n'
        "rm -rf /backups/.drill-media"
    )
    with timed("restore drill"):
        restored = stack("run", "--rm", "-T", "backup", "sh", "-c", drill, timeout=300).stdout
    stack("exec", "-T", "db", "dropdb", "-U", "frota", "frota_drill")

    assert f"backup {state['backup']} is intact" in restored
    assert restored.strip().splitlines()[-1] == production.stdout.strip() == "1|1|1"


def test_a_killed_main_process_comes_back_by_the_restart_policy(stack: Compose):
    """SIGKILL to fleet's gunicorn master (the container's PID 1), as the OOM killer would.

    From the host: `docker kill` would count as an operator's stop, which
    `unless-stopped` honours; a crash does not.
    """
    restarts = int(stack.inspect("fleet", "{{.RestartCount}}"))
    os.kill(int(stack.inspect("fleet", "{{.State.Pid}}")), signal.SIGKILL)
    with timed("killed fleet back to healthy"):
        wait_until(
            "fleet restarted",
            lambda: int(stack.inspect("fleet", "{{.RestartCount}}")) == restarts + 1,
            timeout=30,
        )
        wait_until(
            "fleet healthy again",
            lambda: stack.inspect("fleet", "{{.State.Health.Status}}") == "healthy",
            timeout=90,
        )
        wait_until(
            "/health 200 again",
            lambda: requests.get(f"{stack.url}/health", timeout=5).status_code == 200,
            timeout=30,
        )


def test_an_update_to_a_new_image_costs_a_few_seconds_at_most(stack: Compose):
    """deploy/update.sh, the update procedure of docs/operations.md, while clients poll."""
    tag = "compose-test-update"
    env = {**stack.env, "FROTA_IMAGE_TAG": tag, "COMPOSE": stack.command_line()}

    with timed("update (deploy/update.sh) to a new tag"):
        outage = measure_update(
            stack, state["token"], lambda: run([str(UPDATE)], timeout=600, env=env)
        )
    MEASURED.append(f"update downtime: {outage}")

    running = [c for c in stack.containers() if c["Service"] in APP_SERVICES]
    assert sorted((c["Service"], c["Image"]) for c in running) == [
        (service, f"frota:{tag}") for service in sorted(APP_SERVICES)
    ]
    assert health_of(stack) == dict.fromkeys(LONG_RUNNING, "healthy")
    assert outage.seconds <= UPDATE_DOWNTIME_BOUND_SECONDS, outage
