"""The streaming proxy: what a service receives for a client's request, and what the
client receives for the service's answer — or for the service's failure.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from shared.errors import APIError
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token, verify_internal_token
from tests.gateway.conftest import (
    REQUEST_ID_RE,
    access_token,
    assert_json_error,
    bearer,
    echo_of,
    settings_of,
)
from tests.support.processes import free_port
from tests.support.servers import serving

VEHICLES = "/api/v1/fleet/vehicles"


def internal_secret(app) -> str:
    return settings_of(app).internal_secret_key


# --- the internal credential ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/auth/me", "auth"),
        ("/api/v1/fleet/vehicles", "fleet"),
        ("/api/v1/media/usage", "media"),
    ],
)
def test_each_service_receives_a_credential_for_itself_naming_the_user_and_role(
    client, gateway_app, upstream, path, service
):
    user_id = str(uuid.uuid4())
    token = access_token(gateway_app, user_id=user_id, role="driver")
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200
    credential = upstream.only().header(INTERNAL_TOKEN_HEADER)
    identity = verify_internal_token(credential, internal_secret(gateway_app), audience=service)
    assert identity.user_id == user_id
    assert identity.role == "driver"
    assert identity.caller == "gateway"
    assert identity.request_id == response.headers["X-Request-ID"]
    for other in {"auth", "fleet", "media"} - {service}:
        with pytest.raises(APIError) as refused:
            verify_internal_token(credential, internal_secret(gateway_app), audience=other)
        assert refused.value.status_code == 401


def test_the_credential_is_short_lived(client, gateway_app, upstream):
    client.get(VEHICLES, headers=bearer(access_token(gateway_app)))
    credential = upstream.only().header(INTERNAL_TOKEN_HEADER)
    claims = jwt.decode(credential, options={"verify_signature": False})
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert claims["exp"] - claims["iat"] == settings_of(gateway_app).internal_token_ttl_seconds


def test_client_sent_identity_headers_never_reach_a_service(client, gateway_app, upstream):
    user_id = str(uuid.uuid4())
    # Even a correctly signed credential naming an admin is the client's word only.
    smuggled = mint_internal_token(
        internal_secret(gateway_app),
        issuer="gateway",
        audience="fleet",
        request_id="smuggled-request-id",
        user_id=str(uuid.uuid4()),
        role="admin",
    )
    forged = {
        "X-Frota-Internal": smuggled,
        "X-User-Id": str(uuid.uuid4()),
        "X-User-Role": "admin",
        "X-Role": "admin",
        "X-Auth-User": "admin",
        "X-Internal-Caller": "auth",
        "X-Remote-User": "admin",
        "X-Forwarded-User": "admin",
        "Remote-User": "admin",
        "Cookie": "session=stolen",
    }
    token = access_token(gateway_app, user_id=user_id, role="driver")
    response = client.get(VEHICLES, headers={**forged, **bearer(token)})
    assert response.status_code == 200
    seen = upstream.only()
    credentials = seen.headers_named(INTERNAL_TOKEN_HEADER)
    assert len(credentials) == 1
    assert credentials[0] != smuggled
    identity = verify_internal_token(credentials[0], internal_secret(gateway_app), audience="fleet")
    assert (identity.user_id, identity.role) == (user_id, "driver")
    leaked = {name.lower() for name in forged} - {INTERNAL_TOKEN_HEADER.lower()}
    assert leaked.isdisjoint(seen.header_names)
    assert seen.header("Authorization") is None


def test_ordinary_end_to_end_headers_do_reach_the_service(client, gateway_app, upstream):
    sent = {
        "Accept": "application/json",
        "Accept-Language": "pt-BR",
        "User-Agent": "frota-app/1.2",
        "If-None-Match": '"v1"',
        "X-Client-Version": "1.2.3",
    }
    client.get(VEHICLES, headers={**sent, **bearer(access_token(gateway_app))})
    seen = upstream.only()
    for name, value in sent.items():
        assert seen.header(name) == value


def test_the_service_is_told_the_client_address_and_scheme(client, gateway_app, upstream):
    client.get(
        VEHICLES,
        headers=bearer(access_token(gateway_app)),
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    seen = upstream.only()
    assert seen.headers_named("X-Forwarded-For") == ["198.51.100.7"]
    assert seen.header("X-Forwarded-Proto") == "http"


# --- path, query and request id ------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/fleet/vehicles",
        "/api/v1/fleet/vehicles/6b1f2c1e-8d1e-4b3a-9d7e-3f1f0a2b9c4d/odometer",
        "/api/v1/fleet/vehicles?limit=5&cursor=WyIyMDI2LTAxLTAxIl0%3D",
        "/api/v1/fleet/reports/fleet?format=csv&from=2026-01-01T00:00:00Z&to=2026-02-01",
        "/api/v1/fleet/vehicles?q=a+b&q=%C3%A9&empty=",
        "/api/v1/fleet/vehicles/ABC%201234",
        "/api/v1/fleet/drivers/Jos%C3%A9",
    ],
)
def test_the_path_and_query_string_reach_the_service_unchanged(
    client, gateway_app, upstream, target
):
    response = client.get(target, headers=bearer(access_token(gateway_app)))
    assert response.status_code == 200
    assert upstream.only().target == target


def test_a_well_formed_client_request_id_is_used_everywhere(client, gateway_app, upstream):
    claimed = "app-7f3a:retry.2_of_3"
    headers = {"X-Request-ID": claimed, **bearer(access_token(gateway_app))}
    response = client.get(VEHICLES, headers=headers)
    assert response.headers["X-Request-ID"] == claimed
    seen = upstream.only()
    assert seen.headers_named("X-Request-ID") == [claimed]
    credential = seen.header(INTERNAL_TOKEN_HEADER)
    identity = verify_internal_token(credential, internal_secret(gateway_app), audience="fleet")
    assert identity.request_id == claimed


@pytest.mark.parametrize(
    "claimed",
    [
        pytest.param("has spaces in it", id="spaces"),
        pytest.param("x" * 500, id="500 chars"),
        pytest.param("short", id="too short"),
        pytest.param("id;rm -rf /", id="punctuation"),
        pytest.param("", id="empty"),
    ],
)
def test_a_malformed_client_request_id_is_replaced_by_a_fresh_one(
    client, gateway_app, upstream, claimed
):
    headers = {"X-Request-ID": claimed, **bearer(access_token(gateway_app))}
    response = client.get(VEHICLES, headers=headers)
    assert response.status_code == 200
    issued = response.headers["X-Request-ID"]
    assert issued != claimed
    assert REQUEST_ID_RE.fullmatch(issued)
    seen = upstream.only()
    assert seen.headers_named("X-Request-ID") == [issued]
    credential = seen.header(INTERNAL_TOKEN_HEADER)
    identity = verify_internal_token(credential, internal_secret(gateway_app), audience="fleet")
    assert identity.request_id == issued


def test_without_a_client_request_id_each_request_gets_its_own(client, gateway_app, upstream):
    headers = bearer(access_token(gateway_app))
    first = client.get(VEHICLES, headers=headers).headers["X-Request-ID"]
    second = client.get(VEHICLES, headers=headers).headers["X-Request-ID"]
    assert REQUEST_ID_RE.fullmatch(first)
    assert first != second
    assert [r.header("X-Request-ID") for r in upstream.received] == [first, second]


def test_error_responses_carry_the_request_id_too(client):
    claimed = "client-chosen-id-123"
    response = client.get(VEHICLES, headers={"X-Request-ID": claimed})
    error = assert_json_error(response, 401, "token_required")
    assert error["request_id"] == claimed


# --- request bodies ------------------------------------------------------------------------


def test_a_json_body_reaches_the_service_intact(client, gateway_app, upstream):
    payload = {"plate": "ABC1D23", "make": "Fiat", "note": "ção ✓ \u0000", "odometer_km": 12}
    data = json.dumps(payload, ensure_ascii=False).encode()
    response = client.post(
        VEHICLES,
        data=data,
        content_type="application/json; charset=utf-8",
        headers=bearer(access_token(gateway_app)),
    )
    assert response.status_code == 200
    seen = upstream.only()
    assert (seen.method, seen.body) == ("POST", data)
    assert seen.header("Content-Type") == "application/json; charset=utf-8"
    assert seen.header("Content-Length") == str(len(data))


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_binary_body_reaches_the_service_byte_for_byte(client, gateway_app, upstream, method):
    data = bytes(range(256)) * 3
    client.open(
        VEHICLES + "/x",
        method=method,
        data=data,
        content_type="application/octet-stream",
        headers=bearer(access_token(gateway_app)),
    )
    seen = upstream.only()
    assert (seen.method, seen.body) == (method, data)


def test_an_empty_post_reaches_the_service_as_an_empty_post(client, gateway_app, upstream):
    response = client.post("/api/v1/auth/logout", headers=bearer(access_token(gateway_app)))
    assert response.status_code == 200
    seen = upstream.only()
    assert (seen.method, seen.body) == ("POST", b"")


def post_chunked(base_url: str, path: str, parts: list[bytes], token: str) -> tuple[int, bytes]:
    """POST ``parts`` with ``Transfer-Encoding: chunked`` over a real connection."""
    conn = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=10)
    try:
        conn.request(
            "POST",
            path,
            body=iter(parts),
            headers={"Content-Type": "application/octet-stream", **bearer(token)},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_chunked_body_reaches_the_service_whole_with_its_length(gateway_app, upstream):
    parts = [b"first chunk|", bytes(range(256)), b"|" * 300, b"last chunk"]
    with serving(gateway_app) as url:
        status, _ = post_chunked(url, VEHICLES, parts, access_token(gateway_app))
    assert status == 200
    seen = upstream.only()
    assert seen.body == b"".join(parts)
    # Read whole at the gateway first (a service thread never waits on a client).
    assert seen.header("Transfer-Encoding") is None
    assert seen.header("Content-Length") == str(len(b"".join(parts)))


def test_a_chunked_upload_streams_through_to_the_service_chunked(gateway_app, upstream):
    parts = [b"first chunk|", bytes(range(256)), b"|" * 300, b"last chunk"]
    with serving(gateway_app) as url:
        status, _ = post_chunked(url, "/api/v1/media/files", parts, access_token(gateway_app))
    assert status == 200
    seen = upstream.only()
    assert seen.body == b"".join(parts)
    assert seen.header("Transfer-Encoding") == "chunked"
    assert seen.header("Content-Length") is None


def test_a_request_without_length_or_chunking_has_no_body_and_does_not_wait_for_one(
    gateway_app, upstream
):
    with serving(gateway_app) as url:
        conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=5)
        try:
            # http.client sends no Content-Length for a bodiless DELETE; the
            # connection stays open, so a gateway reading "to the end" would hang.
            conn.request("DELETE", VEHICLES + "/x", headers=bearer(access_token(gateway_app)))
            started = time.monotonic()
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
    assert response.status == 200
    assert time.monotonic() - started < 2
    seen = upstream.only()
    assert (seen.method, seen.body) == ("DELETE", b"")
    assert seen.header("Transfer-Encoding") is None


# --- hop-by-hop headers --------------------------------------------------------------------


def test_hop_by_hop_request_headers_are_not_forwarded(client, gateway_app, upstream):
    hop_by_hop = {
        "Connection": "keep-alive, X-Custom-Hop",
        "X-Custom-Hop": "only for the gateway",
        "Keep-Alive": "timeout=5, max=100",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Upgrade": "h2c",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
    }
    headers = {**hop_by_hop, "X-Client-Version": "1.2.3", **bearer(access_token(gateway_app))}
    response = client.post(VEHICLES, json={"a": 1}, headers=headers)
    assert response.status_code == 200
    seen = upstream.only()
    for name, value in hop_by_hop.items():
        assert value not in seen.headers_named(name), name
    assert {"x-custom-hop", "keep-alive", "te", "trailer", "upgrade"}.isdisjoint(seen.header_names)
    assert "proxy-authorization" not in seen.header_names
    assert seen.header("X-Client-Version") == "1.2.3"
    assert json.loads(seen.body) == {"a": 1}


def test_a_client_transfer_encoding_is_not_forwarded(client, gateway_app, upstream):
    headers = {"Transfer-Encoding": "chunked", **bearer(access_token(gateway_app))}
    response = client.get(VEHICLES, headers=headers)
    assert response.status_code == 200
    assert upstream.only().header("Transfer-Encoding") is None


# --- the service's answer ------------------------------------------------------------------


@pytest.mark.parametrize("status", [201, 204, 304, 404, 409, 418, 500, 503])
def test_the_service_status_headers_and_body_come_back_as_they_were(
    client, gateway_app, upstream, status
):
    response = client.get(f"{VEHICLES}/status/{status}", headers=bearer(access_token(gateway_app)))
    assert response.status_code == status
    assert response.headers["X-Upstream"] == "echo"
    assert response.headers["Location"] == "/somewhere/else"
    if status not in (204, 304):
        assert response.headers["Content-Type"] == "application/json"
        assert response.get_json() == {"upstream_status": status}
    assert REQUEST_ID_RE.fullmatch(response.headers["X-Request-ID"])


def test_a_head_request_gets_the_service_headers_and_no_body(client, gateway_app, upstream):
    response = client.head(VEHICLES, headers=bearer(access_token(gateway_app)))
    assert response.status_code == 200
    assert response.headers["X-Upstream"] == "echo"
    assert response.get_data() == b""
    assert upstream.only().method == "HEAD"


def test_the_service_body_comes_back_byte_for_byte(client, gateway_app, upstream):
    headers = bearer(access_token(gateway_app))
    response = client.post(VEHICLES, json={"plate": "ABC1234"}, headers=headers)
    sent_by_service = json.dumps(echo_of(upstream.only())).encode()
    assert response.get_data() == sent_by_service
    assert response.headers["Content-Length"] == str(len(sent_by_service))


def test_hop_by_hop_response_headers_are_dropped_and_a_chunked_body_reassembled(
    client, gateway_app, upstream
):
    response = client.get(f"{VEHICLES}/hop-by-hop", headers=bearer(access_token(gateway_app)))
    assert response.status_code == 200
    assert response.get_data() == b"first part, second part, last part"
    assert response.headers["X-End-To-End"] == "kept"
    for name in ("Connection", "Keep-Alive", "X-Hop-Secret", "Proxy-Authenticate"):
        assert name not in response.headers, name
    assert response.headers.get("Transfer-Encoding") is None


# --- when the service fails ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_service_nobody_listens_for_is_a_quick_502(make_gateway, method):
    app = make_gateway(FLEET_URL=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    response = app.test_client().open(
        VEHICLES,
        method=method,
        json={} if method == "POST" else None,
        headers=bearer(access_token(app)),
    )
    elapsed = time.monotonic() - started
    error = assert_json_error(response, 502, "upstream_unavailable")
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert elapsed < 1.5


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_service_that_hangs_up_without_answering_is_a_502(client, gateway_app, upstream, method):
    response = client.open(
        f"{VEHICLES}/hang-up", method=method, headers=bearer(access_token(gateway_app))
    )
    assert_json_error(response, 502, "upstream_unavailable")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_service_slower_than_the_read_timeout_is_a_504_in_bounded_time(
    make_gateway, upstream, method
):
    app = make_gateway(UPSTREAM_READ_TIMEOUT="0.5")
    started = time.monotonic()
    response = app.test_client().open(
        f"{VEHICLES}/sleep", method=method, headers=bearer(access_token(app))
    )
    elapsed = time.monotonic() - started
    assert_json_error(response, 504, "upstream_timeout")
    assert 0.4 < elapsed < 2.0
    assert len(upstream.received) == 1  # asked once: a slow service is not asked again


# --- body limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/fleet/vehicles", "/api/v1/auth/users", "/api/v1/auth/login", "/api/v1/media/x"],
)
def test_a_json_body_over_the_limit_is_413_and_never_reaches_the_service(
    make_gateway, upstream, path
):
    app = make_gateway(JSON_MAX_BODY_KB="1")
    body = json.dumps({"note": "x" * 1100}).encode()
    response = app.test_client().post(
        path, data=body, content_type="application/json", headers=bearer(access_token(app))
    )
    assert_json_error(response, 413, "payload_too_large")
    assert upstream.received == []


def test_a_json_body_exactly_at_the_limit_goes_through(make_gateway, upstream):
    app = make_gateway(JSON_MAX_BODY_KB="1")
    body = b'{"note": "' + b"x" * (1024 - 12) + b'"}'
    assert len(body) == 1024
    response = app.test_client().post(
        VEHICLES, data=body, content_type="application/json", headers=bearer(access_token(app))
    )
    assert response.status_code == 200
    assert upstream.only().body == body


def test_the_upload_route_has_its_own_larger_limit(make_gateway, upstream):
    app = make_gateway(JSON_MAX_BODY_KB="1", MEDIA_MAX_UPLOAD_MB="1")
    client = app.test_client()
    headers = bearer(access_token(app))
    small_file = bytes(range(256)) * 64  # 16 KB: over the JSON limit, under the upload limit
    accepted = client.post(
        "/api/v1/media/files", data=small_file, content_type="image/jpeg", headers=headers
    )
    assert accepted.status_code == 200
    assert upstream.only().body == small_file
    too_big = client.post(
        "/api/v1/media/files",
        data=b"\xff" * (1024 * 1024 + 128 * 1024),
        content_type="image/jpeg",
        headers=headers,
    )
    assert_json_error(too_big, 413, "payload_too_large")
    assert len(upstream.received) == 1


def test_a_chunked_body_over_the_limit_is_413_while_streaming(make_gateway, upstream):
    app = make_gateway(JSON_MAX_BODY_KB="1")
    parts = [b"x" * 700, b"y" * 700, b"z" * 700]
    with serving(app) as url:
        status, body = post_chunked(url, VEHICLES, parts, access_token(app))
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    # The service may have seen the start of it, but never a whole request.
    assert upstream.received == []


def test_a_chunked_body_exactly_at_the_limit_goes_through_like_a_sized_one(make_gateway, upstream):
    app = make_gateway(JSON_MAX_BODY_KB="1")
    parts = [b"a" * 512, b"b" * 512]
    with serving(app) as url:
        status, _ = post_chunked(url, VEHICLES, parts, access_token(app))
    assert status == 200
    assert upstream.only().body == b"".join(parts)


@pytest.mark.parametrize(
    "target",
    ["/api/v1/fleet/vehicles/a%2Fb", "/api/v1/fleet/vehicles/%2541?q=%26x"],
)
def test_encoded_paths_reach_the_service_still_encoded(gateway_app, upstream, target):
    with serving(gateway_app) as url:
        response = requests.get(url + target, headers=bearer(access_token(gateway_app)), timeout=10)
    assert response.status_code == 200
    assert upstream.only().target == target


def test_client_address_headers_do_not_reach_services(client, gateway_app, upstream):
    spoofed = {"CF-Connecting-IP": "203.0.113.7", "True-Client-IP": "203.0.113.8"}
    client.get(VEHICLES, headers={**spoofed, **bearer(access_token(gateway_app))})
    seen = upstream.only()
    assert seen.header("CF-Connecting-IP") is None
    assert seen.header("True-Client-IP") is None
