"""Client-side steps the end-to-end tests share."""

from __future__ import annotations

import uuid

import psycopg2
import requests

from tests.e2e.conftest import ADMIN_PASSWORD, RunningStack
from tests.support.factories import committed_manager
from tests.support.identity import client_access_token

ADMIN_NEW_PASSWORD = "e2e-admin-new-password"
USER_PASSWORD = "long-enough-password"


def login(http: requests.Session, stack: RunningStack, username: str, password: str):
    return http.post(
        f"{stack.url}/api/v1/auth/login", json={"username": username, "password": password}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_token(http: requests.Session, stack: RunningStack) -> str:
    """Log in as the first admin, changing the one-time password on first use."""
    first = login(http, stack, "admin", ADMIN_PASSWORD)
    if first.status_code == 200:
        changed = http.post(
            f"{stack.url}/api/v1/auth/me/password",
            headers=bearer(first.json()["access_token"]),
            json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_NEW_PASSWORD},
        )
        assert changed.status_code == 200, changed.text
        return changed.json()["access_token"]
    again = login(http, stack, "admin", ADMIN_NEW_PASSWORD)
    assert again.status_code == 200, again.text
    return again.json()["access_token"]


def new_user(http: requests.Session, stack: RunningStack, role: str = "driver") -> dict:
    """Create a user through the API and log them in past the password gate.

    Returns the user with its current ``password``, ``access_token`` and ``refresh_token``.
    """
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    created = http.post(
        f"{stack.url}/api/v1/auth/users",
        headers=bearer(admin_token(http, stack)),
        json={"username": username, "full_name": username.title(), "role": role},
    )
    assert created.status_code == 201, created.text
    user = created.json()
    first = login(http, stack, username, user["one_time_password"]).json()
    password = f"pw-{uuid.uuid4().hex}"
    changed = http.post(
        f"{stack.url}/api/v1/auth/me/password",
        headers=bearer(first["access_token"]),
        json={"current_password": user["one_time_password"], "new_password": password},
    )
    assert changed.status_code == 200, changed.text
    return {**user, **changed.json(), "password": password}


def token_for(stack: RunningStack, user_id: str, role: str = "manager") -> str:
    """A valid access token, signed as the auth service would (no login needed)."""
    return client_access_token(stack.settings, user_id, role)


def db_user(stack: RunningStack) -> tuple[str, str]:
    """A real manager in the stack's database: (id, username); password USER_PASSWORD."""
    return committed_manager(stack.settings, USER_PASSWORD)


def db_user_id(stack: RunningStack) -> str:
    return db_user(stack)[0]


def vehicles(stack: RunningStack, token: str) -> requests.Response:
    """The vehicle list, as a client with ``token`` asks for it (a new connection each time)."""
    return requests.get(
        f"{stack.url}/api/v1/fleet/vehicles",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def stored_media(stack: RunningStack) -> tuple[int, list[str]]:
    """Rows in media.files, and every file on the volume (temp files included)."""
    conn = psycopg2.connect(stack.settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM media.files")
            rows = cur.fetchone()[0]
    finally:
        conn.close()
    files = [str(p) for p in stack.settings.media_root.rglob("*") if p.is_file()]
    return rows, files
