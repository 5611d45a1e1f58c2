from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner
from flask_jwt_extended import decode_token

from auth_service.models import RevokedToken, User
from auth_service.passwords import hasher
from frota.cli import main as frota
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from tests.support.factories import DEFAULT_PASSWORD, make_user


def test_login_rehashes_a_password_hashed_with_weaker_parameters(auth_api, db_session):
    user = make_user(db_session)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    user.password_hash = weak.hash(DEFAULT_PASSWORD)
    db_session.commit()
    response = auth_api.post(
        "/api/v1/auth/login", json={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    db_session.refresh(user)
    assert not hasher.check_needs_rehash(user.password_hash)
    assert f"m={hasher.memory_cost}" in user.password_hash


def test_logout_revokes_both_tokens_and_forgets_expired_revocations(auth_api, db_session):
    user = make_user(db_session)
    expired_jti = uuid.uuid4().hex
    db_session.add(
        RevokedToken(
            jti=expired_jti, user_id=user.id, expires_at=datetime.now(UTC) - timedelta(hours=1)
        )
    )
    db_session.commit()
    tokens = auth_api.post(
        "/api/v1/auth/login", json={"username": user.username, "password": DEFAULT_PASSWORD}
    ).json
    with auth_api.app.app_context():
        access = decode_token(tokens["access_token"])
        refresh = decode_token(tokens["refresh_token"])
    headers = {
        INTERNAL_TOKEN_HEADER: mint_internal_token(
            auth_api.secret,
            issuer="gateway",
            audience="auth",
            request_id=uuid.uuid4().hex,
            user_id=str(user.id),
            role=user.role,
            token_jti=access["jti"],
            token_exp=access["exp"],
        )
    }
    response = auth_api.client.post(
        "/api/v1/auth/logout", headers=headers, json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 204
    revoked = set(db_session.scalars(sa.select(RevokedToken.jti)))
    assert {access["jti"], refresh["jti"]} <= revoked
    assert expired_jti not in revoked


def test_frota_create_user_command(database_url, monkeypatch, tmp_path, db_session):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FROTA_VAR_DIR", str(tmp_path))
    username = f"cli-{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(
        frota,
        ["create-user", "--username", username, "--full-name", "Cli User", "--role", "manager"],
    )
    assert result.exit_code == 0, result.output
    assert "one-time password (shown once)" in result.output
    user = db_session.scalar(sa.select(User).where(User.username == username))
    assert user.role == "manager"
    assert user.must_change_password is True
    again = CliRunner().invoke(
        frota, ["create-user", "--username", username, "--full-name", "X", "--role", "driver"]
    )
    assert again.exit_code != 0
    assert "already in use" in again.output
