"""The route table: which service serves a path, under which access rule and limits;
what the gateway answers for paths no service serves; its own health endpoints.
"""

from __future__ import annotations

import pytest

from gateway.routing import Access, build_route_table, find_route
from shared.config import Settings
from tests.gateway.conftest import access_token, assert_json_error, bearer
from tests.support.processes import free_port

SETTINGS = Settings(
    json_max_body_kb=2,
    media_max_upload_mb=3,
    upstream_read_timeout=7.0,
    upload_read_timeout=90.0,
)
TABLE = build_route_table(SETTINGS)
JSON_LIMIT = 2 * 1024
UPLOAD_LIMIT = 3 * 1024 * 1024 + 64 * 1024


def route(method: str, path: str):
    found = find_route(TABLE, method, path)
    assert found is not None, f"{method} {path} should be routed"
    return found


# --- login and refresh: exact paths only ---------------------------------------------------


def test_login_is_the_one_public_route():
    login = route("POST", "/api/v1/auth/login")
    assert (login.service, login.access) == ("auth", Access.PUBLIC)
    assert login.max_body_bytes == JSON_LIMIT
    assert [r.prefix for r in TABLE if r.access is Access.PUBLIC] == ["/api/v1/auth/login"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/login/",
        "/api/v1/auth/login/../users",
        "/api/v1/auth/loginx",
        "/api/v1/auth/login/extra",
    ],
)
def test_paths_that_merely_start_like_login_need_a_token(path):
    assert route("POST", path).access is Access.ACCESS


def test_refresh_takes_a_refresh_token_on_its_exact_path_only():
    assert route("POST", "/api/v1/auth/refresh").access is Access.REFRESH
    assert route("POST", "/api/v1/auth/refresh/x").access is Access.ACCESS


# --- media uploads: POST on the exact path only --------------------------------------------


def test_a_media_upload_gets_the_upload_limit_and_timeout():
    upload = route("POST", "/api/v1/media/files")
    assert (upload.service, upload.access) == ("media", Access.ACCESS)
    assert upload.max_body_bytes == UPLOAD_LIMIT
    assert upload.read_timeout == 90.0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/media/files"),
        ("PUT", "/api/v1/media/files"),
        ("POST", "/api/v1/media/files/1234/hold"),
        ("POST", "/api/v1/media/files/"),
        ("GET", "/api/v1/media/usage"),
    ],
)
def test_other_media_requests_get_the_json_limit(method, path):
    found = route(method, path)
    assert (found.service, found.access) == ("media", Access.ACCESS)
    assert found.max_body_bytes == JSON_LIMIT


# --- everything else by prefix -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/auth/me", "auth"),
        ("/api/v1/auth/me/password", "auth"),
        ("/api/v1/auth/users/42", "auth"),
        ("/api/v1/fleet/vehicles", "fleet"),
        ("/api/v1/fleet/reports/vehicles/42", "fleet"),
        ("/api/v1/fleet/", "fleet"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_other_paths_go_by_prefix_to_their_service_with_a_token(method, path, service):
    found = route(method, path)
    assert (found.service, found.access) == (service, Access.ACCESS)
    assert found.max_body_bytes == JSON_LIMIT
    assert found.read_timeout == 7.0


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/fleet",
        "/api/v1/fleetx/vehicles",
        "/api/v1/unknown/x",
        "/api/v2/fleet/vehicles",
        "/api/v1/",
        "/health",
        "/",
    ],
)
def test_paths_no_service_serves_have_no_route(path):
    assert find_route(TABLE, "GET", path) is None


# --- through the gateway -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v2/x", "/api/v1/unknown/x", "/api/v1/fleet", "/api/v1", "/api"]
)
def test_an_unknown_path_is_a_json_404_and_reaches_no_service(client, gateway_app, upstream, path):
    response = client.get(path, headers=bearer(access_token(gateway_app)))
    assert_json_error(response, 404, "not_found")
    assert upstream.received == []


def test_a_method_the_gateway_does_not_proxy_is_a_json_405(client, upstream):
    response = client.open("/api/v1/fleet/vehicles", method="TRACE")
    assert_json_error(response, 405, "method_not_allowed")
    assert upstream.received == []


def test_livez_answers_while_the_process_runs(client):
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def health_shape_is_right(body: dict) -> bool:
    return (
        set(body) == {"status", "services", "redis"}
        and set(body["services"]) == {"auth", "fleet", "media"}
        and all(part["status"] in {"ok", "down"} for part in body["services"].values())
        and body["redis"]["status"] in {"ok", "down"}
    )


def test_health_asks_every_service_and_redis_without_a_token(client, upstream):
    response = client.get("/health")
    body = response.get_json()
    assert health_shape_is_right(body)
    assert all(part["status"] == "ok" for part in body["services"].values())
    assert [r.path for r in upstream.housekeeping].count("/ready") == 3
    healthy = body["redis"]["status"] == "ok"
    assert (response.status_code, body["status"]) == ((200, "ok") if healthy else (503, "degraded"))


def test_health_is_503_and_names_the_part_that_is_down(make_gateway):
    app = make_gateway(
        FLEET_URL=f"http://127.0.0.1:{free_port()}",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    response = app.test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert health_shape_is_right(body)
    assert body["status"] == "degraded"
    assert body["services"]["fleet"]["status"] == "down"
    assert body["services"]["auth"]["status"] == "ok"
    assert body["redis"]["status"] == "down"
