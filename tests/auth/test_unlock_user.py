"""`frota unlock-user`: what an admin runs when an account is locked out."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from auth_service import service as auth
from auth_service.models import AuditEvent
from frota.cli import main as frota

PASSWORD = "the-real-password"


def test_unlock_user_clears_the_lockouts_and_slow_down_of_every_address(
    live_auth, monkeypatch, tmp_path
):
    username = f"Locked.Out-{uuid.uuid4().hex[:6]}"
    with Session(live_auth.engine) as session:
        user, _ = auth.create_user(
            db_session=session,
            username=username,
            full_name="Locked",
            role="admin",
            password=PASSWORD,
        )
        user_id = user.id
    addresses = ["203.0.113.70", "203.0.113.71"]
    for address in addresses:
        for _ in range(5):
            assert live_auth.login(address, username, "wrong-guess").status_code == 401
    # Locked at both addresses, and the account is past the slow-down threshold.
    for address in addresses:
        assert live_auth.login(address, username, PASSWORD).status_code == 429
    assert live_auth.login("203.0.113.72", username, "wrong-guess").status_code == 401
    assert live_auth.login("203.0.113.73", username, PASSWORD).status_code == 429

    monkeypatch.setenv("DATABASE_URL", live_auth.database_url)
    monkeypatch.setenv("FROTA_VAR_DIR", str(tmp_path))
    # Typed as a person would: the canonical form finds the account.
    result = CliRunner().invoke(frota, ["unlock-user", username.upper()])
    assert result.exit_code == 0, result.output
    assert f"unlocked {username}" in result.output

    for address in [*addresses, "203.0.113.73"]:
        assert live_auth.login(address, username, PASSWORD).status_code == 200
    with live_auth.engine.connect() as conn:
        actions = conn.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.target_id == user_id)
            .order_by(AuditEvent.at)
        ).all()
    assert actions[-4:] == ["account_unlocked", "login", "login", "login"]


def test_unlock_user_names_an_unknown_username(live_auth, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", live_auth.database_url)
    monkeypatch.setenv("FROTA_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(frota, ["unlock-user", "nobody-by-that-name"])
    assert result.exit_code != 0
    assert "No such user: nobody-by-that-name" in result.output
