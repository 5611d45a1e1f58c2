from __future__ import annotations

import uuid

from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from tests.support.factories import make_user


def as_service(auth_api, caller: str) -> dict[str, str]:
    token = mint_internal_token(
        auth_api.secret, issuer=caller, audience="auth", request_id=uuid.uuid4().hex
    )
    return {INTERNAL_TOKEN_HEADER: token}


def test_services_can_look_up_a_user(auth_api, db_session):
    user = make_user(db_session, role="driver", full_name="Rita Alves")
    response = auth_api.client.get(
        f"/internal/users/{user.id}", headers=as_service(auth_api, "fleet")
    )
    assert response.status_code == 200
    assert response.json == {
        "id": str(user.id),
        "username": user.username,
        "full_name": "Rita Alves",
        "role": "driver",
        "is_active": True,
    }
    missing = auth_api.client.get(
        f"/internal/users/{uuid.uuid4()}", headers=as_service(auth_api, "fleet")
    )
    assert missing.status_code == 404


def test_user_lookup_is_not_for_the_gateway_or_clients(auth_api, db_session):
    user = make_user(db_session)
    assert (
        auth_api.client.get(
            f"/internal/users/{user.id}", headers=as_service(auth_api, "gateway")
        ).status_code
        == 403
    )
    assert auth_api.client.get(f"/internal/users/{user.id}").status_code == 401


def test_revocation_snapshot_is_for_the_gateway_only(auth_api):
    assert (
        auth_api.client.get(
            "/internal/revocations", headers=as_service(auth_api, "fleet")
        ).status_code
        == 403
    )
    ok = auth_api.client.get("/internal/revocations", headers=as_service(auth_api, "gateway"))
    assert ok.status_code == 200
    assert set(ok.json) == {"tokens", "generations", "version"}
