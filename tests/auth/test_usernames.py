"""Usernames are unique as a person reads them, and look-alike tricks are refused."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from auth_service.models import User
from tests.support.factories import DEFAULT_PASSWORD, make_user

USERS = "/api/v1/auth/users"
LOGIN = "/api/v1/auth/login"


def create(auth_api, admin, username):
    return auth_api.post(
        USERS, user=admin, json={"username": username, "full_name": "New User", "role": "driver"}
    )


@pytest.mark.parametrize(
    ("username", "problem"),
    [
        ("pau\x07l", "control or format characters (U+0007"),
        ("pau\x7fl", "control or format characters (U+007F"),
        ("pau\u00adl", "invisible characters (U+00AD SOFT HYPHEN)"),
        ("pau\u200bl", "invisible characters (U+200B ZERO WIDTH SPACE)"),
        ("pau\u2060l", "invisible characters (U+2060 WORD JOINER)"),
        ("paul\ufe0f", "invisible characters (U+FE0F VARIATION SELECTOR-16)"),
        ("pa\u3164ul", "invisible characters (U+3164 HANGUL FILLER)"),
        ("paul\u202egpj.exe", "bidirectional control characters (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("pa\u2067ul\u2069", "bidirectional control characters (U+2067 RIGHT-TO-LEFT ISOLATE"),
        ("paul\u200f", "bidirectional control characters (U+200F RIGHT-TO-LEFT MARK)"),
        ("p\u0430ul", "must not mix scripts (Cyrillic and Latin)"),
        ("\u03c1aul", "must not mix scripts (Greek and Latin)"),
        ("paul\u0661", "must not mix scripts (Arabic and Latin)"),
        ("\u13aadam", "a script not allowed in usernames (U+13AA CHEROKEE LETTER GO)"),
        ("paul smith", "only letters, digits and"),
    ],
    ids=lambda value: value.encode("unicode_escape").decode(),
)
def test_each_look_alike_username_is_a_422_naming_the_problem(
    auth_api, db_session, username, problem
):
    admin = make_user(db_session, role="admin")
    response = create(auth_api, admin, username)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert problem in " ".join(error["details"]["username"])
    assert problem in error["message"]


@pytest.mark.parametrize(
    "username",
    [
        "maria.silva",
        "José-Ávila",
        "Ærøskøbing",
        "Σωκράτης",
        "Дмитрий",
        "山田太郎",
        "やまだ_タロウ",
        "김민준",
    ],
)
def test_single_script_names_are_welcome(auth_api, db_session, username):
    admin = make_user(db_session, role="admin")
    response = create(auth_api, admin, username)
    assert response.status_code == 201, response.json
    assert response.json["username"] == username


@pytest.mark.parametrize("taken_as", ["Paul", "paul", "PAUL", "\uff50\uff41\uff55\uff4c"])
def test_paul_paul_and_fullwidth_paul_are_one_username(auth_api, db_session, taken_as):
    admin = make_user(db_session, role="admin")
    assert create(auth_api, admin, taken_as).status_code == 201
    for again in ("Paul", "paul", "\uff50\uff41\uff55\uff4c", " PAUL "):
        response = create(auth_api, admin, again)
        assert response.status_code == 409, again
        assert response.json["error"]["code"] == "username_taken"


def test_fullwidth_usernames_are_stored_as_they_read(auth_api, db_session):
    admin = make_user(db_session, role="admin")
    response = create(auth_api, admin, "\uff30\uff41\uff55\uff4c")
    assert response.json["username"] == "Paul"


def test_login_finds_the_user_however_the_name_is_typed(auth_api, db_session):
    make_user(db_session, username="Stra\u00dfe")
    for typed in (
        "stra\u00dfe",
        "STRASSE",
        "strasse",
        "\uff53\uff54\uff52\uff41\uff53\uff53\uff45",
    ):
        response = auth_api.post(LOGIN, json={"username": typed, "password": DEFAULT_PASSWORD})
        assert response.status_code == 200, typed


def test_a_look_alike_username_at_login_is_just_invalid_credentials(auth_api, db_session):
    make_user(db_session, username="paul")
    response = auth_api.post(LOGIN, json={"username": "p\u0430ul", "password": DEFAULT_PASSWORD})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_credentials"


def test_the_database_refuses_two_rows_with_one_canonical_username(db_session):
    # What holds when two requests create the same name at once: the unique index.
    make_user(db_session, username="race.user")
    db_session.add(
        User(
            username="RACE.user",
            username_canonical="race.user",
            full_name="X",
            role="driver",
            password_hash="x",
        )
    )
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()
