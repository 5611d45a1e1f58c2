"""Attacks the stack already held when it was first tried as an attacker (issue 12):
request smuggling, path tricks, IDOR, mass assignment and SQL injection.

They are kept here as regression tests, over real sockets to the real stack,
so that a change to the gateway or a service cannot quietly reopen them.
"""

from __future__ import annotations

import socket
import uuid

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.helpers import admin_token, bearer, new_user
from tests.support.files import jpeg_bytes
from tests.support.rawhttp import read_until_closed


def raw_exchange(stack: RunningStack, payload: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``payload`` on one connection and read everything until the gateway closes it."""
    port = stack.settings.gateway_port
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock, ends=(TimeoutError,))


def status_lines(raw: bytes) -> list[bytes]:
    return [line for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.")]


SMUGGLED = b"GET /api/v1/auth/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"


@pytest.mark.parametrize(
    "framing",
    [
        # CL.TE: the front end reads 4 bytes, the back end reads chunks.
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        # TE.CL with an obfuscated Transfer-Encoding.
        b"Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n",
        b"Transfer-Encoding: chunked, identity\r\nContent-Length: 4\r\n",
        # Two different lengths.
        b"Content-Length: 4\r\nContent-Length: 40\r\n",
    ],
    ids=["cl-te", "te-obfuscated", "te-list", "double-cl"],
)
def test_ambiguous_framing_is_refused_and_smuggles_no_second_request(
    e2e_stack: RunningStack, http: requests.Session, framing: bytes
):
    token = admin_token(http, e2e_stack)
    smuggled = SMUGGLED.replace(b"{token}", token.encode())
    body = b"0\r\n\r\n" + smuggled
    request = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + framing
        + b"\r\n"
        + body
    )
    raw = raw_exchange(e2e_stack, request)
    lines = status_lines(raw)
    # One answer, a refusal (501 for a coding gunicorn does not implement): the
    # smuggled request was never parsed as a request.
    assert len(lines) == 1, raw[:2000]
    assert lines[0].split()[1] in {b"400", b"501"}, lines[0]
    assert b'"items"' not in raw


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/fleet/../auth/users",
        "/api/v1/fleet/%2e%2e/auth/users",
        "/api/v1/fleet%2F..%2Fauth/users",
        "/api/v1/media/files/..%2F..%2F..%2Fauth%2Fusers",
        "/api/v1/fleet/./../../api/v1/auth/users",
    ],
)
def test_dot_segments_never_reach_another_services_routes(
    e2e_stack: RunningStack, http: requests.Session, path: str
):
    driver = new_user(http, e2e_stack, role="driver")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {driver['access_token']}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    raw = raw_exchange(e2e_stack, request)
    status = status_lines(raw)[0].split()[1]
    assert status in {b"400", b"404"}, raw[:2000]
    assert b'"username"' not in raw


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/login/../users",
        "/api/v1/auth/login%2F..%2Fusers",
        "/api/v1/auth/login/%2e%2e/users",
        "/api/v1/auth/login;/users",
    ],
)
def test_the_public_login_route_is_no_way_around_the_token(e2e_stack: RunningStack, path: str):
    raw = raw_exchange(
        e2e_stack, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    status = status_lines(raw)[0].split()[1]
    assert status in {b"400", b"401", b"404", b"405"}, raw[:2000]
    assert b'"username"' not in raw


def test_a_driver_cannot_reach_another_drivers_file_or_user_record(
    e2e_stack: RunningStack, http: requests.Session
):
    owner = new_user(http, e2e_stack, role="driver")
    other = new_user(http, e2e_stack, role="driver")
    uploaded = http.post(
        f"{e2e_stack.url}/api/v1/media/files",
        headers=bearer(owner["access_token"]),
        files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")},
        data={"kind": "photo"},
    )
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["id"]
    for suffix in ("", "/content", "/thumbnail"):
        stolen = http.get(
            f"{e2e_stack.url}/api/v1/media/files/{file_id}{suffix}",
            headers=bearer(other["access_token"]),
        )
        assert stolen.status_code == 404, (suffix, stolen.text)
    deleted = http.delete(
        f"{e2e_stack.url}/api/v1/media/files/{file_id}", headers=bearer(other["access_token"])
    )
    assert deleted.status_code == 404
    record = http.get(
        f"{e2e_stack.url}/api/v1/auth/users/{owner['id']}", headers=bearer(other["access_token"])
    )
    assert record.status_code == 403


def test_fields_a_client_may_not_set_are_refused_not_stored(
    e2e_stack: RunningStack, http: requests.Session
):
    admin = bearer(admin_token(http, e2e_stack))
    forced_id = str(uuid.uuid4())
    vehicle = http.post(
        f"{e2e_stack.url}/api/v1/fleet/vehicles",
        headers=admin,
        json={
            "id": forced_id,
            "plate": "MAS1A23",
            "make": "Fiat",
            "model": "Uno",
            "year": 2020,
            "fuel_types": ["gasoline"],
            "odometer_km": 5,
            "created_at": "2000-01-01T00:00:00Z",
        },
    )
    assert vehicle.status_code == 422, vehicle.text
    assert {"id", "odometer_km", "created_at"} <= set(vehicle.json()["error"]["details"])
    user = http.post(
        f"{e2e_stack.url}/api/v1/auth/users",
        headers=admin,
        json={
            "username": f"mass-{uuid.uuid4().hex[:6]}",
            "full_name": "Mass Assignment",
            "role": "driver",
            "must_change_password": False,
            "password_hash": "$argon2id$forged",
            "token_generation": -1,
        },
    )
    assert user.status_code == 422, user.text
    assert {"must_change_password", "password_hash", "token_generation"} <= set(
        user.json()["error"]["details"]
    )
    driver = new_user(http, e2e_stack, role="driver")
    promoted = http.patch(
        f"{e2e_stack.url}/api/v1/auth/users/{driver['id']}",
        headers=bearer(driver["access_token"]),
        json={"role": "admin"},
    )
    assert promoted.status_code == 403
    me = http.get(f"{e2e_stack.url}/api/v1/auth/me", headers=bearer(driver["access_token"]))
    assert me.json()["role"] == "driver"


@pytest.mark.parametrize(
    "needle",
    ["' OR '1'='1", "%' OR 1=1 --", "'); DROP TABLE fleet.vehicles; --", "\\' UNION SELECT 1 --"],
)
def test_sql_in_search_text_is_only_text(
    e2e_stack: RunningStack, http: requests.Session, needle: str
):
    admin = bearer(admin_token(http, e2e_stack))
    for path in ("/api/v1/fleet/vehicles", "/api/v1/auth/users"):
        found = http.get(f"{e2e_stack.url}{path}", headers=admin, params={"q": needle})
        assert found.status_code == 200, found.text
        assert found.json()["items"] == []
    wrong_sort = http.get(
        f"{e2e_stack.url}/api/v1/fleet/vehicles",
        headers=admin,
        params={"sort": "plate; DROP TABLE fleet.vehicles"},
    )
    assert wrong_sort.status_code == 422
    assert "sort" in wrong_sort.json()["error"]["details"]
    login = http.post(
        f"{e2e_stack.url}/api/v1/auth/login",
        json={"username": "admin' --", "password": "x' OR '1'='1"},
    )
    assert login.status_code == 401
    # The table is still there.
    assert http.get(f"{e2e_stack.url}/api/v1/fleet/vehicles", headers=admin).status_code == 200
