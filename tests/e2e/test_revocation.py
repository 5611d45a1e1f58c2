"""Logout, password change, deactivation and role change end sessions within a second,
across every gateway worker, and still do after Redis loses its data."""

from __future__ import annotations

import time

import pytest

from gateway.revocation import RECENT_ANSWER_SECONDS
from tests.e2e.helpers import admin_token, bearer, new_user

# Enough requests that each of the 4 gateway workers serves some of them.
ATTEMPTS = 12


def me(http, stack, token):
    return http.get(f"{stack.url}/api/v1/auth/me", headers=bearer(token))


def refresh(http, stack, refresh_token):
    return http.post(f"{stack.url}/api/v1/auth/refresh", headers=bearer(refresh_token))


def assert_rejected_everywhere(http, stack, user):
    # The contract is "within one second in every worker": a worker may reuse a
    # "not revoked" answer for RECENT_ANSWER_SECONDS.
    time.sleep(RECENT_ANSWER_SECONDS + 0.1)
    for _ in range(ATTEMPTS):
        response = me(http, stack, user["access_token"])
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "token_revoked"
    assert refresh(http, stack, user["refresh_token"]).status_code == 401


def logout(http, stack, user):
    response = http.post(
        f"{stack.url}/api/v1/auth/logout",
        headers=bearer(user["access_token"]),
        json={"refresh_token": user["refresh_token"]},
    )
    assert response.status_code == 204


def change_password(http, stack, user):
    response = http.post(
        f"{stack.url}/api/v1/auth/me/password",
        headers=bearer(user["access_token"]),
        json={"current_password": user["password"], "new_password": user["password"] + "-new"},
    )
    assert response.status_code == 200
    return response.json()


def deactivate(http, stack, user, admin=None):
    response = http.delete(
        f"{stack.url}/api/v1/auth/users/{user['id']}",
        headers=bearer(admin or admin_token(http, stack)),
    )
    assert response.status_code == 200


def change_role(http, stack, user, admin=None):
    response = http.patch(
        f"{stack.url}/api/v1/auth/users/{user['id']}",
        headers=bearer(admin or admin_token(http, stack)),
        json={"role": "manager"},
    )
    assert response.status_code == 200


ENDINGS = {
    "logout": logout,
    "password_change": change_password,
    "deactivation": deactivate,
    "role_change": change_role,
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_old_tokens_are_rejected_within_a_second_by_every_worker(e2e_stack, http, ending):
    user = new_user(http, e2e_stack)
    for _ in range(ATTEMPTS):
        assert me(http, e2e_stack, user["access_token"]).status_code == 200
    assert refresh(http, e2e_stack, user["refresh_token"]).status_code == 200
    ENDINGS[ending](http, e2e_stack, user)
    assert_rejected_everywhere(http, e2e_stack, user)


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_revocations_survive_a_redis_flush(e2e_stack, http, ending):
    user = new_user(http, e2e_stack)
    bystander = new_user(http, e2e_stack)
    ENDINGS[ending](http, e2e_stack, user)
    e2e_stack.redis.flushall()
    assert_rejected_everywhere(http, e2e_stack, user)
    assert me(http, e2e_stack, bystander["access_token"]).status_code == 200


def test_fresh_tokens_after_a_password_change_work(e2e_stack, http):
    user = new_user(http, e2e_stack)
    fresh = change_password(http, e2e_stack, user)
    for _ in range(ATTEMPTS):
        assert me(http, e2e_stack, fresh["access_token"]).status_code == 200
    assert refresh(http, e2e_stack, fresh["refresh_token"]).status_code == 200


def test_deactivated_user_cannot_log_in_again(e2e_stack, http):
    user = new_user(http, e2e_stack)
    deactivate(http, e2e_stack, user)
    response = http.post(
        f"{e2e_stack.url}/api/v1/auth/login",
        json={"username": user["username"], "password": user["password"]},
    )
    assert response.status_code == 401
