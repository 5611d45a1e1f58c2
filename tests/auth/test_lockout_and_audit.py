"""Lockouts that hold off guessing and cannot be turned against a user or tell who exists."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import auth_service
from auth_service.models import AuditEvent, LoginThrottle, User
from auth_service.throttle import LOCK_FOR, SLOW_DOWN_INTERVAL
from tests.auth.throttling import age_throttles, comparable, gateway_headers, login_from
from tests.conftest import _service_app, make_settings
from tests.support.factories import DEFAULT_PASSWORD, make_user
from tests.support.identity import ApiClient

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"
WRONG = "wrong-password"


def fail_logins(auth_api: ApiClient, address: str, user: User, times: int) -> None:
    """``times`` wrong passwords for ``user`` from ``address``."""
    for _ in range(times):
        login_from(auth_api, address, user.username, WRONG)


def test_five_failures_lock_the_account_from_that_address_even_for_the_right_password(
    auth_api, db_session
):
    user = make_user(db_session)
    for _ in range(5):
        assert login_from(auth_api, ATTACKER, user.username, WRONG).status_code == 401
    locked = login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD)
    assert locked.status_code == 429
    assert locked.json["error"]["code"] == "account_locked"
    retry_after = int(locked.headers["Retry-After"])
    assert LOCK_FOR.total_seconds() - 60 <= retry_after <= LOCK_FOR.total_seconds() + 1
    assert locked.json["error"]["details"]["retry_after_seconds"] == retry_after


def test_an_attackers_failures_from_one_address_do_not_lock_the_owner_out_from_another(
    auth_api, db_session
):
    user = make_user(db_session)
    fail_logins(auth_api, ATTACKER, user, 8)
    assert login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD).status_code == 429
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200
    # ... and the owner's success does not lift the attacker's lock.
    assert login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD).status_code == 429


def test_the_lock_lifts_by_itself_after_fifteen_minutes(auth_api, db_session):
    user = make_user(db_session)
    fail_logins(auth_api, ATTACKER, user, 5)
    assert login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD).status_code == 429
    age_throttles(db_session, by=LOCK_FOR + timedelta(seconds=1))
    assert login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD).status_code == 200


def test_failures_outside_the_window_do_not_add_up(auth_api, db_session):
    user = make_user(db_session)
    fail_logins(auth_api, OWNER, user, 4)
    age_throttles(db_session, by=timedelta(minutes=16))
    assert login_from(auth_api, OWNER, user.username, WRONG).status_code == 401
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200


def test_a_successful_login_resets_the_failure_count(auth_api, db_session):
    user = make_user(db_session)
    fail_logins(auth_api, OWNER, user, 4)
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200
    fail_logins(auth_api, OWNER, user, 4)
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200


def test_failures_from_many_addresses_slow_the_account_down_but_never_lock_it(auth_api, db_session):
    user = make_user(db_session)
    for n in range(10):  # two addresses of a botnet, five guesses each
        assert login_from(auth_api, f"203.0.113.{n // 5}", user.username, WRONG).status_code == 401
    # Past ten failures: one attempt per interval for the account, from anywhere.
    assert login_from(auth_api, "203.0.113.50", user.username, WRONG).status_code == 401
    slowed = login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD)
    assert slowed.status_code == 429
    assert slowed.json["error"]["code"] == "rate_limited"
    assert 1 <= int(slowed.headers["Retry-After"]) <= SLOW_DOWN_INTERVAL.total_seconds()
    age_throttles(db_session, by=SLOW_DOWN_INTERVAL)
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200


def test_the_owner_is_not_slowed_down_at_an_address_it_logged_in_from_before(auth_api, db_session):
    user = make_user(db_session)
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200
    # A botnet keeps the account past the slow-down threshold ...
    for n in range(11):
        login_from(auth_api, f"203.0.113.{n // 5}", user.username, WRONG)
    assert login_from(auth_api, "192.0.2.99", user.username, DEFAULT_PASSWORD).status_code == 429
    # ... but the owner's own address is not slowed down.
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200
    # Failures from there still count towards that address's own lock.
    fail_logins(auth_api, OWNER, user, 5)
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 429


def assert_alike(known, unknown) -> None:
    """Same status, body and headers; Retry-After may differ by the second between them."""
    known_status, known_body, known_headers = comparable(known)
    unknown_status, unknown_body, unknown_headers = comparable(unknown)
    assert known_status == unknown_status
    for body, headers in ((known_body, known_headers), (unknown_body, unknown_headers)):
        retry = body["error"]["details"].pop("retry_after_seconds", None)
        assert retry == (int(headers.pop("Retry-After")) if retry is not None else None)
        body["retry"] = retry
        headers.pop("Content-Length")
    if known_body["retry"] is not None:
        assert abs(known_body.pop("retry") - unknown_body.pop("retry")) <= 1
    assert known_body == unknown_body
    assert known_headers == unknown_headers


def test_unknown_and_known_usernames_answer_alike_through_the_whole_lockout_sequence(
    auth_api, db_session
):
    user = make_user(db_session)
    ghost = f"ghost-{user.username}"
    steps = (
        [("203.0.113.1", WRONG)] * 5  # five failures from one address ...
        + [("203.0.113.1", DEFAULT_PASSWORD)]  # ... lock it there
        + [("203.0.113.2", WRONG)] * 5  # five from another: ten for the account
        + [("203.0.113.3", WRONG)]  # the slow-down lets one through ...
        + [("203.0.113.3", WRONG)]  # ... and holds the next back
    )
    statuses = []
    for address, password in steps:
        known = login_from(auth_api, address, user.username, password)
        unknown = login_from(auth_api, address, ghost, password)
        assert_alike(known, unknown)
        statuses.append(known.status_code)
    assert statuses == [401] * 5 + [429] + [401] * 5 + [401, 429]
    # The audit trail has the same entries for both.
    known_actions = actions_for(db_session, username=user.username)
    unknown_actions = actions_for(db_session, username=ghost)
    assert known_actions == unknown_actions
    assert known_actions.count("login_failed") == 11
    assert known_actions.count("account_locked") == 2
    assert known_actions.count("login_refused") == 2


def actions_for(db_session, *, username):
    return db_session.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.details["username"].astext == username)
        .order_by(AuditEvent.at)
    ).all()


def test_logins_failures_and_lockouts_are_audited(auth_api, db_session):
    user = make_user(db_session)
    login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD)
    fail_logins(auth_api, ATTACKER, user, 5)
    login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD)
    events = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.target_id == user.id).order_by(AuditEvent.at)
    ).all()
    actions = [event.action for event in events]
    assert actions[:2] == ["user_created", "login"]
    assert actions.count("login_failed") == 5
    assert "account_locked" in actions
    assert actions[-1] == "login_refused"
    assert events[-1].details["reason"] == "account_locked"
    assert events[-1].ip == ATTACKER
    assert events[1].request_id


def test_unknown_user_failures_are_audited_with_the_username(auth_api, db_session):
    login_from(auth_api, OWNER, "ghost-user", "whatever-password")
    event = db_session.scalar(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "login_failed")
        .order_by(AuditEvent.at.desc())
    )
    assert event.details == {"username": "ghost-user", "reason": "unknown_user"}


def test_failed_logins_per_address_are_limited_in_the_auth_service_itself(auth_api, db_session):
    # RATE_LIMIT_LOGIN (10/minute here) holds without the gateway's Redis.
    user = make_user(db_session)
    for n in range(10):
        assert login_from(auth_api, ATTACKER, f"guess-{n}", WRONG).status_code == 401
    refused = login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert login_from(auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200


@pytest.fixture
def tight_auth_api(tmp_path, database_url, redis_url, database):
    settings = make_settings(
        tmp_path,
        database_url,
        redis_url,
        RATE_LIMIT_LOGINS_PER_ACCOUNT="3/10 minutes",
        RATE_LIMIT_LOGINS_PER_ADDRESS="4/10 minutes",
    )
    return ApiClient(
        _service_app(auth_service, settings, database), "auth", settings.internal_secret_key
    )


def test_successful_logins_are_limited_per_account(tight_auth_api, db_session):
    user = make_user(db_session)
    for n in range(3):
        ok = login_from(tight_auth_api, f"198.51.100.{n}", user.username, DEFAULT_PASSWORD)
        assert ok.status_code == 200
    refused = login_from(tight_auth_api, "198.51.100.9", user.username, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert 9 * 60 <= int(refused.headers["Retry-After"]) <= 10 * 60
    other = make_user(db_session)
    assert (
        login_from(tight_auth_api, "198.51.100.9", other.username, DEFAULT_PASSWORD).status_code
        == 200
    )


def test_successful_logins_are_limited_per_address(tight_auth_api, db_session):
    users = [make_user(db_session) for _ in range(5)]
    for user in users[:4]:
        assert login_from(tight_auth_api, OWNER, user.username, DEFAULT_PASSWORD).status_code == 200
    refused = login_from(tight_auth_api, OWNER, users[4].username, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert (
        login_from(tight_auth_api, ATTACKER, users[4].username, DEFAULT_PASSWORD).status_code == 200
    )


def test_failed_logins_do_not_use_up_the_successful_login_limit(tight_auth_api, db_session):
    user = make_user(db_session)
    fail_logins(tight_auth_api, ATTACKER, user, 4)
    for n in range(3):
        ok = login_from(tight_auth_api, f"198.51.100.{n}", user.username, DEFAULT_PASSWORD)
        assert ok.status_code == 200


def change_password_from(auth_api, address, user, current):
    headers = gateway_headers(auth_api.secret, address, user_id=str(user.id), role=user.role)
    return auth_api.client.post(
        "/api/v1/auth/me/password",
        json={"current_password": current, "new_password": "a-brand-new-password"},
        headers=headers,
    )


def test_a_stolen_token_cannot_guess_the_password_faster_than_the_login_form(auth_api, db_session):
    user = make_user(db_session)
    for _ in range(5):
        assert change_password_from(auth_api, ATTACKER, user, WRONG).status_code == 403
    refused = change_password_from(auth_api, ATTACKER, user, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "account_locked"
    # The same counters as login: locked there too, from that address only.
    assert login_from(auth_api, ATTACKER, user.username, DEFAULT_PASSWORD).status_code == 429
    assert change_password_from(auth_api, OWNER, user, DEFAULT_PASSWORD).status_code == 200


def test_counters_that_hold_nothing_any_more_are_purged(auth_api, db_session):
    for n in range(3):
        login_from(auth_api, f"192.0.2.{n}", f"sprayed-{n}", WRONG)
    counted = db_session.scalars(sa.select(LoginThrottle.username).distinct()).all()
    assert set(counted) == {"", "sprayed-0", "sprayed-1", "sprayed-2"}
    age_throttles(db_session, by=timedelta(days=1))
    login_from(auth_api, OWNER, "one-more", WRONG)
    # Only the last attempt's counters are left.
    left = db_session.scalars(sa.select(LoginThrottle.username).distinct()).all()
    assert set(left) == {"", "one-more"}


def test_an_ipv6_client_is_its_whole_64_for_the_address_limit(auth_api, db_session):
    user = make_user(db_session)
    for n in range(1, 11):
        assert login_from(auth_api, f"2001:db8:5:5::{n:x}", f"guess-{n}", WRONG).status_code == 401
    walked = login_from(auth_api, "2001:db8:5:5:ffff::1", user.username, DEFAULT_PASSWORD)
    assert walked.status_code == 429
    assert (
        login_from(auth_api, "2001:db8:5:6::1", user.username, DEFAULT_PASSWORD).status_code == 200
    )
    # The audit keeps the address as it was.
    assert (
        db_session.scalar(
            sa.select(AuditEvent.ip).where(AuditEvent.details["username"].astext == "guess-10")
        )
        == "2001:db8:5:5::a"
    )
