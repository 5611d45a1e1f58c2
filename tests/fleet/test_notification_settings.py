"""Each manager's notification settings: GET and PUT /notification-settings."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

SETTINGS = "/api/v1/fleet/notification-settings"


def another_manager():
    return SimpleNamespace(id=str(uuid.uuid4()), role="manager")


def test_the_defaults_until_settings_are_saved(fleet_api, manager):
    response = fleet_api.get(SETTINGS, user=manager)
    assert response.status_code == 200, response.json
    assert response.json == {"email_digest": "off", "language": "pt-BR", "email": None}


def test_put_saves_the_settings_and_a_second_put_replaces_them(fleet_api, manager):
    daily = {"email_digest": "daily", "language": "en", "email": "ana@example.com"}
    saved = fleet_api.call("PUT", SETTINGS, user=manager, json=daily)
    assert saved.status_code == 200, saved.json
    assert saved.json == daily
    assert fleet_api.get(SETTINGS, user=manager).json == daily

    off = {"email_digest": "off", "language": "pt-BR"}
    replaced = fleet_api.call("PUT", SETTINGS, user=manager, json=off)
    assert replaced.status_code == 200, replaced.json
    assert fleet_api.get(SETTINGS, user=manager).json == {**off, "email": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email_digest": "daily", "language": "en"}, "email"),
        ({"email_digest": "daily", "language": "en", "email": None}, "email"),
        ({"email_digest": "daily", "language": "en", "email": "not an address"}, "email"),
        ({"email_digest": "off", "language": "fr"}, "language"),
        ({"email_digest": "off", "language": "pt_BR"}, "language"),
        ({"email_digest": "weekly", "language": "en"}, "email_digest"),
        ({"language": "en"}, "email_digest"),
    ],
)
def test_bad_settings_are_422_naming_the_field(fleet_api, manager, body, field):
    response = fleet_api.call("PUT", SETTINGS, user=manager, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]
    # Nothing was saved.
    assert fleet_api.get(SETTINGS, user=manager).json["email_digest"] == "off"


def test_drivers_have_no_notification_settings(fleet_api, driver_user):
    assert fleet_api.get(SETTINGS, user=driver_user).status_code == 403
    body = {"email_digest": "off", "language": "en"}
    assert fleet_api.call("PUT", SETTINGS, user=driver_user, json=body).status_code == 403


def test_each_manager_sees_their_own_settings(fleet_api, manager):
    other = another_manager()
    mine = {"email_digest": "daily", "language": "en", "email": "me@example.com"}
    theirs = {"email_digest": "daily", "language": "pt-BR", "email": "them@example.com"}
    assert fleet_api.call("PUT", SETTINGS, user=manager, json=mine).status_code == 200
    assert fleet_api.call("PUT", SETTINGS, user=other, json=theirs).status_code == 200

    assert fleet_api.get(SETTINGS, user=manager).json == mine
    assert fleet_api.get(SETTINGS, user=other).json == theirs
    assert fleet_api.get(SETTINGS, user=another_manager()).json["email"] is None
