from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from auth_service.models import AuditEvent
from tests.support.factories import DEFAULT_PASSWORD, make_user

LOGIN = "/api/v1/auth/login"


def login(auth_api, username, password):
    return auth_api.post(LOGIN, json={"username": username, "password": password})


def test_five_failures_lock_the_account_even_for_the_right_password(auth_api, db_session):
    user = make_user(db_session)
    for _ in range(5):
        assert login(auth_api, user.username, "wrong-password").status_code == 401
    locked = login(auth_api, user.username, DEFAULT_PASSWORD)
    assert locked.status_code == 429
    assert locked.json["error"]["code"] == "account_locked"
    retry_after = int(locked.headers["Retry-After"])
    assert 14 * 60 <= retry_after <= 15 * 60 + 1


def test_lock_expires_after_fifteen_minutes(auth_api, db_session):
    user = make_user(db_session)
    for _ in range(5):
        login(auth_api, user.username, "wrong-password")
    db_session.refresh(user)
    user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    db_session.commit()
    assert login(auth_api, user.username, DEFAULT_PASSWORD).status_code == 200


def test_failures_outside_the_window_do_not_add_up(auth_api, db_session):
    user = make_user(db_session)
    for _ in range(4):
        login(auth_api, user.username, "wrong-password")
    db_session.refresh(user)
    user.first_failed_login_at = datetime.now(UTC) - timedelta(minutes=16)
    db_session.commit()
    assert login(auth_api, user.username, "wrong-password").status_code == 401
    assert login(auth_api, user.username, DEFAULT_PASSWORD).status_code == 200


def test_a_successful_login_resets_the_failure_count(auth_api, db_session):
    user = make_user(db_session)
    for _ in range(4):
        login(auth_api, user.username, "wrong-password")
    assert login(auth_api, user.username, DEFAULT_PASSWORD).status_code == 200
    for _ in range(4):
        login(auth_api, user.username, "wrong-password")
    assert login(auth_api, user.username, DEFAULT_PASSWORD).status_code == 200


def actions_for(db_session, user_id):
    return db_session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.target_id == user_id).order_by(AuditEvent.at)
    ).all()


def test_logins_failures_and_lockouts_are_audited(auth_api, db_session):
    user = make_user(db_session)
    login(auth_api, user.username, DEFAULT_PASSWORD)
    for _ in range(5):
        login(auth_api, user.username, "wrong-password")
    login(auth_api, user.username, DEFAULT_PASSWORD)
    actions = actions_for(db_session, user.id)
    assert actions[:2] == ["user_created", "login"]
    assert actions.count("login_failed") == 5
    assert "account_locked" in actions
    assert actions[-1] == "login_refused_locked"
    event = db_session.scalar(
        sa.select(AuditEvent).where(AuditEvent.target_id == user.id, AuditEvent.action == "login")
    )
    assert event.request_id


def test_unknown_user_failures_are_audited_with_the_username(auth_api, db_session):
    login(auth_api, "ghost-user", "whatever-password")
    event = db_session.scalar(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "login_failed")
        .order_by(AuditEvent.at.desc())
    )
    assert event.details == {"username": "ghost-user", "reason": "unknown_user"}
