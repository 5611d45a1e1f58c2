"""A manager reads the drivers' user accounts (to register their driver records), no others."""

from __future__ import annotations

from tests.support.factories import make_user

USERS = "/api/v1/auth/users"


def _ids(page: dict) -> set[str]:
    return {user["id"] for user in page["items"]}


def test_a_manager_lists_only_the_drivers_accounts_whatever_role_is_asked(auth_api, db_session):
    manager = make_user(db_session, role="manager")
    drivers = {str(make_user(db_session, role="driver").id) for _ in range(3)}
    others = {str(make_user(db_session, role=role).id) for role in ("manager", "admin")}
    listed = auth_api.get(USERS, user=manager, query_string={"limit": 200})
    assert listed.status_code == 200
    assert drivers <= _ids(listed.json)
    assert not (others | {str(manager.id)}) & _ids(listed.json)
    assert {user["role"] for user in listed.json["items"]} == {"driver"}
    # The role filter is forced: asking for another role finds no one.
    for role in ("manager", "admin"):
        page = auth_api.get(USERS, user=manager, query_string={"role": role}).json
        assert page["items"] == []
    # The other filters still apply, within the drivers.
    named = make_user(db_session, role="driver", full_name="Zuleica Prado")
    make_user(db_session, role="manager", full_name="Zuleica Manager")
    found = auth_api.get(USERS, user=manager, query_string={"q": "zuleica"}).json
    assert _ids(found) == {str(named.id)}


def test_an_admin_still_lists_everyone(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    manager = make_user(db_session, role="manager")
    driver = make_user(db_session, role="driver")
    listed = auth_api.get(USERS, user=admin, query_string={"limit": 200}).json
    assert {str(admin.id), str(manager.id), str(driver.id)} <= _ids(listed)


def test_a_manager_reads_a_driver_account_and_no_other(auth_api, db_session):
    manager = make_user(db_session, role="manager")
    driver = make_user(db_session, role="driver", full_name="Rita Dias")
    shown = auth_api.get(f"{USERS}/{driver.id}", user=manager)
    assert shown.status_code == 200
    assert shown.json["full_name"] == "Rita Dias"
    # Managers' and admins' accounts (one's own included) are not a manager's to read:
    # 404, as an unknown user is, so the answer says nothing of who exists.
    for other in (make_user(db_session, role="manager"), make_user(db_session, role="admin")):
        hidden = auth_api.get(f"{USERS}/{other.id}", user=manager)
        assert hidden.status_code == 404
        assert hidden.json["error"]["code"] == "user_not_found"
    assert auth_api.get(f"{USERS}/{manager.id}", user=manager).status_code == 404


def test_a_manager_still_cannot_create_change_or_deactivate_users(auth_api, db_session):
    manager = make_user(db_session, role="manager")
    driver = make_user(db_session, role="driver")
    created = auth_api.post(
        USERS, user=manager, json={"username": "new.driver", "full_name": "X", "role": "driver"}
    )
    assert created.status_code == 403
    changed = auth_api.call(
        "PATCH", f"{USERS}/{driver.id}", user=manager, json={"full_name": "Someone Else"}
    )
    assert changed.status_code == 403
    assert auth_api.call("DELETE", f"{USERS}/{driver.id}", user=manager).status_code == 403
    db_session.refresh(driver)
    assert driver.is_active
    assert driver.full_name != "Someone Else"


def test_a_driver_reads_no_user_account(auth_api, db_session):
    caller = make_user(db_session, role="driver")
    other = make_user(db_session, role="driver")
    assert auth_api.get(USERS, user=caller).status_code == 403
    assert auth_api.get(f"{USERS}/{other.id}", user=caller).status_code == 403
