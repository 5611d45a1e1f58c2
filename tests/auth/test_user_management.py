from __future__ import annotations

import sqlalchemy as sa

from auth_service.models import AuditEvent, User
from tests.support.factories import make_user

USERS = "/api/v1/auth/users"


def test_admin_lists_users_with_filters_and_pages(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    drivers = {str(make_user(db_session, role="driver").id) for _ in range(7)}
    make_user(db_session, role="manager")
    seen, cursor = [], None
    while True:
        query = {"role": "driver", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = auth_api.get(USERS, user=admin, query_string=query).json
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Every driver once, in the listing's order (created_at, then id); no admin, no manager.
    in_order = db_session.scalars(
        sa.select(User.id).where(User.role == "driver").order_by(User.created_at, User.id)
    ).all()
    assert seen == [str(user_id) for user_id in in_order]
    assert set(seen) == drivers


def test_driver_and_manager_get_403_on_user_management(auth_api, db_session):
    target = make_user(db_session)
    for role in ("driver", "manager"):
        caller = make_user(db_session, role=role)
        # A manager reads the drivers' accounts (tests/auth/test_manager_reads_drivers.py).
        if role == "driver":
            assert auth_api.get(USERS, user=caller).status_code == 403
            assert auth_api.get(f"{USERS}/{target.id}", user=caller).status_code == 403
        assert (
            auth_api.call(
                "PATCH", f"{USERS}/{target.id}", user=caller, json={"role": "admin"}
            ).status_code
            == 403
        )


def test_admin_changes_role_and_it_is_audited(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    user = make_user(db_session, role="driver")
    response = auth_api.call("PATCH", f"{USERS}/{user.id}", user=admin, json={"role": "manager"})
    assert response.status_code == 200
    assert response.json["role"] == "manager"
    db_session.refresh(user)
    assert user.token_generation == 1
    event = db_session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "role_changed", AuditEvent.target_id == user.id
        )
    )
    assert event.actor_id == admin.id
    assert event.details == {"old": "driver", "new": "manager"}


def test_nobody_changes_their_own_role_or_status(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    make_user(db_session, role="admin")
    own = f"{USERS}/{admin.id}"
    assert auth_api.call("PATCH", own, user=admin, json={"role": "driver"}).status_code == 403
    assert auth_api.call("PATCH", own, user=admin, json={"is_active": False}).status_code == 403
    assert auth_api.delete(own, user=admin).status_code == 403
    assert (
        auth_api.call("PATCH", own, user=admin, json={"full_name": "New Name"}).status_code == 200
    )


def test_last_active_admin_cannot_be_demoted_or_deactivated(auth_api, db_session):
    db_session.execute(sa.update(User).where(User.role == "admin").values(is_active=False))
    db_session.commit()
    actor = make_user(db_session, role="admin")
    target = make_user(db_session, role="admin")
    assert auth_api.delete(f"{USERS}/{target.id}", user=actor).status_code == 200
    # actor is now the last active admin; another admin account acting on it:
    other = make_user(db_session, role="admin")
    assert auth_api.delete(f"{USERS}/{actor.id}", user=other).status_code == 200
    response = auth_api.call(
        "PATCH", f"{USERS}/{other.id}", user=target.id, role="admin", json={"role": "driver"}
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "last_admin"


def test_delete_deactivates_and_keeps_the_user(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    user = make_user(db_session)
    response = auth_api.delete(f"{USERS}/{user.id}", user=admin)
    assert response.status_code == 200
    assert response.json["is_active"] is False
    db_session.refresh(user)
    assert user.is_active is False
    assert user.token_generation == 1


def test_unknown_user_is_404(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    response = auth_api.get(f"{USERS}/00000000-0000-0000-0000-000000000000", user=admin)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "user_not_found"


def test_a_full_name_that_would_read_as_someone_else_is_422_naming_it(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    user = make_user(db_session)
    spoof = "Admin\u202e nimdA"  # shown reversed after the override
    created = auth_api.post(
        USERS, user=admin, json={"username": "spoofer", "full_name": spoof, "role": "driver"}
    )
    assert created.status_code == 422
    assert list(created.json["error"]["details"]) == ["full_name"]
    renamed = auth_api.call(
        "PATCH", f"{USERS}/{user.id}", user=admin, json={"full_name": "Ana\u200b"}
    )
    assert renamed.status_code == 422
    assert list(renamed.json["error"]["details"]) == ["full_name"]
