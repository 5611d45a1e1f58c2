from __future__ import annotations

from flask_jwt_extended import decode_token

from tests.support.factories import DEFAULT_PASSWORD, make_user


def login(auth_api, username, password):
    return auth_api.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_login_returns_access_and_refresh_tokens(auth_api, db_session):
    user = make_user(db_session, role="manager")
    response = login(auth_api, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 24 * 3600
    assert body["must_change_password"] is True
    with auth_api.app.app_context():
        claims = decode_token(body["access_token"])
    assert claims["sub"] == str(user.id)
    assert claims["role"] == "manager"
    assert claims["type"] == "access"


def test_username_is_case_insensitive(auth_api, db_session):
    make_user(db_session, username="Maria.Silva")
    assert login(auth_api, "maria.silva", DEFAULT_PASSWORD).status_code == 200


def test_unknown_user_and_wrong_password_look_the_same(auth_api, db_session):
    user = make_user(db_session)
    wrong = login(auth_api, user.username, "not-the-password")
    unknown = login(auth_api, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    bodies = [wrong.get_json(), unknown.get_json()]
    for body in bodies:
        body["error"].pop("request_id")
    assert bodies[0] == bodies[1]
    assert bodies[0]["error"]["code"] == "invalid_credentials"


def test_inactive_user_cannot_log_in_and_looks_like_a_wrong_password(auth_api, db_session):
    user = make_user(db_session)
    user.is_active = False
    db_session.commit()
    response = login(auth_api, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 401
    # The right password must not reveal that the account exists but is deactivated.
    assert response.json["error"]["code"] == "invalid_credentials"
    assert "access_token" not in response.json


def test_password_hashes_are_argon2id(db_session):
    user = make_user(db_session)
    assert user.password_hash.startswith("$argon2id$")


def test_missing_fields_are_422_naming_each(auth_api):
    response = auth_api.post("/api/v1/auth/login", json={})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert set(error["details"]) == {"username", "password"}


def test_malformed_json_is_a_json_400(auth_api):
    response = auth_api.post(
        "/api/v1/auth/login", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_json"


def test_a_nul_character_in_a_username_is_422_not_500(auth_api):
    response = auth_api.post(
        "/api/v1/auth/login", json={"username": "adm\x00in", "password": "whatever-password"}
    )
    assert response.status_code == 422
    assert "username" in response.json["error"]["details"]
