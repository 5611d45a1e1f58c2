"""After a run that logs in, fails logins, changes passwords and trips database
constraints, no process of the stack has logged a password, a token, or a value
the client sent to the database."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import sqlalchemy as sa

from shared.db import sqlalchemy_url
from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.helpers import ADMIN_NEW_PASSWORD
from tests.support.rawhttp import exchange

# Any JWT (ours start with the base64 of '{"alg"' or '{"typ"').
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


@contextmanager
def vehicles_refused_by_the_database(database_url: str, model: str) -> Iterator[None]:
    """A trigger that refuses vehicles of ``model`` with an error quoting the row's values,
    as PostgreSQL's own errors do (``Failing row contains (...)``, ``Key (...)=(...)``)."""
    engine = sa.create_engine(sqlalchemy_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                sa.text(
                    "CREATE FUNCTION fleet.refuse_probe() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN IF NEW.model = '" + model + "' THEN"
                    " RAISE EXCEPTION 'refused vehicle of %', NEW.make"
                    " USING DETAIL = 'row: ' || NEW.make || ' ' || NEW.plate; END IF;"
                    " RETURN NEW; END $$"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse_probe BEFORE INSERT ON fleet.vehicles"
                    " FOR EACH ROW EXECUTE FUNCTION fleet.refuse_probe()"
                )
            )
        yield
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS refuse_probe ON fleet.vehicles"))
            conn.execute(sa.text("DROP FUNCTION IF EXISTS fleet.refuse_probe()"))
        engine.dispose()


def post(http, stack, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post(f"{stack.url}{path}", headers=headers, timeout=10, **kwargs)


def test_no_password_token_or_database_value_reaches_any_log(logged_stack):
    stack = logged_stack
    secrets: list[str] = [ADMIN_PASSWORD]
    with requests.Session() as http:
        # The first admin: one-time password, then a new one.
        first = post(
            http,
            stack,
            "/api/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
        assert first.status_code == 200, first.text
        # The password the other tests on this stack log in with (tests.e2e.helpers.admin_token).
        admin_password = ADMIN_NEW_PASSWORD
        secrets.append(admin_password)
        changed = post(
            http,
            stack,
            "/api/v1/auth/me/password",
            first.json()["access_token"],
            json={"current_password": ADMIN_PASSWORD, "new_password": admin_password},
        )
        assert changed.status_code == 200, changed.text
        token = changed.json()["access_token"]
        secrets += [first.json()["access_token"], first.json()["refresh_token"], token]
        secrets.append(changed.json()["refresh_token"])

        # Failed logins: a wrong password for a real user, any password for nobody.
        # Two for the admin: with the wrong current password below and admin_token's
        # first try, the admin stays under the lockout (5 per account and address)
        # for the tests that share this stack.
        for n in range(2):
            wrong = f"wrong-guess-{n}-{uuid.uuid4().hex[:8]}"
            secrets.append(wrong)
            assert (
                post(
                    http, stack, "/api/v1/auth/login", json={"username": "admin", "password": wrong}
                ).status_code
                == 401
            )
            assert (
                post(
                    http,
                    stack,
                    "/api/v1/auth/login",
                    json={"username": f"ghost{n}", "password": wrong},
                ).status_code
                == 401
            )

        # A new user whose one-time password is changed; its personal data is the
        # kind of value that a constraint violation would quote.
        full_name = f"Maria Quiteria {uuid.uuid4().hex[:6]}"
        username = f"maria{uuid.uuid4().hex[:6]}"
        new_user = {"username": username, "full_name": full_name, "role": "driver"}
        created = post(http, stack, "/api/v1/auth/users", token, json=new_user)
        assert created.status_code == 201, created.text
        one_time = created.json()["one_time_password"]
        secrets.append(one_time)
        duplicate = post(http, stack, "/api/v1/auth/users", token, json=new_user)
        assert duplicate.status_code == 409, duplicate.text
        login = post(
            http, stack, "/api/v1/auth/login", json={"username": username, "password": one_time}
        )
        user_password = f"user-pw-{uuid.uuid4().hex}"
        secrets += [user_password, login.json()["access_token"]]
        assert (
            post(
                http,
                stack,
                "/api/v1/auth/me/password",
                login.json()["access_token"],
                json={"current_password": one_time, "new_password": user_password},
            ).status_code
            == 200
        )
        wrong_current = f"wrong-current-{uuid.uuid4().hex[:8]}"
        secrets.append(wrong_current)
        assert (
            post(
                http,
                stack,
                "/api/v1/auth/me/password",
                token,
                json={"current_password": wrong_current, "new_password": f"x-{uuid.uuid4().hex}"},
            ).status_code
            == 403
        )  # invalid_current_password: the wrong password was checked

        # Constraint violations with personal data: a duplicate plate, a duplicate
        # driver's licence number.
        plate = "QTR1A23"
        vehicle = {
            "plate": plate,
            "make": "Fiat",
            "model": "Uno",
            "year": 2020,
            "fuel_types": ["gasoline"],
        }
        assert post(http, stack, "/api/v1/fleet/vehicles", token, json=vehicle).status_code == 201
        assert post(http, stack, "/api/v1/fleet/vehicles", token, json=vehicle).status_code == 409
        licence = f"{uuid.uuid4().int % 10**11:011d}"
        driver = {
            "user_id": created.json()["id"],
            "license_number": licence,
            "license_category": "B",
            "license_expires_on": "2031-12-31",
        }
        first_driver = post(http, stack, "/api/v1/fleet/drivers", token, json=driver)
        assert first_driver.status_code == 201, first_driver.text
        assert post(http, stack, "/api/v1/fleet/drivers", token, json=driver).status_code == 409

        # A database error the service does not expect, quoting personal data.
        owner = f"Joana Probe {uuid.uuid4().hex[:6]}"
        probe_plate = "PRB2C34"
        with vehicles_refused_by_the_database(stack.settings.database_url or "", "probe-model"):
            refused = post(
                http,
                stack,
                "/api/v1/fleet/vehicles",
                token,
                json={**vehicle, "plate": probe_plate, "make": owner, "model": "probe-model"},
            )
        assert refused.status_code == 500
        assert owner not in refused.text

        # Tokens in places that get refused below Flask or by the gateway.
        forged = token[:-4] + "AAAA"
        http.get(
            f"{stack.url}/api/v1/fleet/vehicles",
            headers={"Authorization": f"Bearer {forged}"},
            timeout=10,
        )
        http.get(f"{stack.url}/api/v1/fleet/vehicles?access_token={token}", timeout=10)
        exchange(stack.settings.gateway_port, f"GET /x?t={token} HTTP/9.9\r\n\r\n".encode())
        exchange(stack.settings.port_of("auth"), f"BAD {token}\r\n\r\n".encode())
        exchange(
            stack.settings.gateway_port,
            f"GET /health HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
            f"X-Big: {'b' * 9000}\r\n\r\n".encode(),
        )
        assert post(http, stack, "/api/v1/auth/logout", token).status_code == 204

    logs = stack.log_text()
    assert logs, "the stack logged nothing: the scan would prove nothing"
    leaked = [s for s in secrets if s in logs]
    assert not leaked, f"{len(leaked)} secrets in the logs, e.g. {leaked[0][:12]}..."
    assert not JWT.search(logs), "a JWT in the logs"
    for value in (full_name, plate, licence, owner, probe_plate):
        assert value not in logs, f"a value sent to the database is in the logs: {value}"
    assert "sqlstate=P0001" in logs, "the database error was not logged at all"
