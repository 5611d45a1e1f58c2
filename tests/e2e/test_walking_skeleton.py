"""A client app's first session, through the gateway only: health, login, the
password gate, a vehicle, a photo up and down."""

from __future__ import annotations

import hashlib
import time

from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.helpers import admin_token, login, metric_total
from tests.support.files import jpeg_bytes

UPSTREAM_ERRORS = "frota_gateway_upstream_errors_total"


def test_health_lists_every_service(e2e_stack, http):
    response = http.get(f"{e2e_stack.url}/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["services"]) == {"auth", "fleet", "media"}
    assert all(s["status"] == "ok" for s in body["services"].values())
    assert body["redis"]["status"] == "ok"


def test_password_gate_then_vehicle_then_photo(e2e_stack, http):
    url = e2e_stack.url
    first = login(http, e2e_stack, "admin", ADMIN_PASSWORD)
    if first.status_code == 200:  # the gate is only observable before the change
        assert first.json()["must_change_password"] is True
        gated = http.get(
            f"{url}/api/v1/fleet/vehicles",
            headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        )
        assert gated.status_code == 403
        assert gated.json()["error"]["code"] == "password_change_required"
    auth = {"Authorization": f"Bearer {admin_token(http, e2e_stack)}"}

    created = http.post(
        f"{url}/api/v1/fleet/vehicles",
        headers=auth,
        json={
            "plate": "rio-2a19",
            "make": "Renault",
            "model": "Kangoo",
            "year": 2023,
            "fuel_types": ["gasoline", "ethanol"],
        },
    )
    assert created.status_code == 201, created.text
    vehicle = created.json()
    assert vehicle["plate"] == "RIO2A19"
    listed = http.get(f"{url}/api/v1/fleet/vehicles", headers=auth).json()
    assert vehicle["id"] in [v["id"] for v in listed["items"]]

    photo = jpeg_bytes(300_000)
    uploaded = http.post(
        f"{url}/api/v1/media/files",
        headers=auth,
        files={"file": ("dash.jpg", photo, "image/jpeg")},
        data={"kind": "photo"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["sha256"] == hashlib.sha256(photo).hexdigest()
    downloaded = http.get(f"{url}/api/v1/media/files/{uploaded.json()['id']}/content", headers=auth)
    assert downloaded.status_code == 200
    assert downloaded.content == photo


def test_request_id_is_returned_and_reused(e2e_stack, http):
    response = http.get(
        f"{e2e_stack.url}/api/v1/fleet/vehicles", headers={"X-Request-ID": "client-req-0001"}
    )
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "client-req-0001"
    assert response.json()["error"]["request_id"] == "client-req-0001"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_services_refuse_requests_that_bypass_the_gateway(e2e_stack, http):
    for part, path in [
        ("fleet", "/api/v1/fleet/vehicles"),
        ("auth", "/api/v1/auth/me"),
        ("media", "/api/v1/media/files/00000000-0000-0000-0000-000000000000"),
    ]:
        direct = http.get(f"{e2e_stack.service_url(part)}{path}")
        assert direct.status_code == 401, part
        forged = http.get(
            f"{e2e_stack.service_url(part)}{path}",
            headers={"X-User-Id": "00000000-0000-0000-0000-000000000001", "X-Role": "admin"},
        )
        assert forged.status_code == 401, part
        assert forged.json()["error"]["code"] == "internal_credential_required"


def test_forged_identity_header_through_gateway_is_ignored(e2e_stack, http):
    response = http.get(
        f"{e2e_stack.url}/api/v1/fleet/vehicles",
        headers={"X-User-Id": "00000000-0000-0000-0000-000000000001", "X-Role": "admin"},
    )
    assert response.status_code == 401


def test_unknown_route_is_json_404(e2e_stack, http):
    for path in ("/api/v1/nothing-here", "/api/nope", "/api/v1/fleet/no-such-thing"):
        response = http.get(
            f"{e2e_stack.url}{path}",
            headers={"Authorization": f"Bearer {admin_token(http, e2e_stack)}"},
        )
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_killed_service_gives_502_json_then_recovers(e2e_stack, http):
    auth = {"Authorization": f"Bearer {admin_token(http, e2e_stack)}"}
    refused = {"service": "fleet", "kind": "refused"}
    metrics_url = f"{e2e_stack.url}/metrics"
    before = metric_total(http.get(metrics_url).text, UPSTREAM_ERRORS, **refused)
    e2e_stack.stack.stop_part("fleet")
    try:
        started = time.monotonic()
        response = http.get(f"{e2e_stack.url}/api/v1/fleet/vehicles", headers=auth)
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_unavailable"
        assert time.monotonic() - started < e2e_stack.settings.upstream_connect_timeout + 2
        health = http.get(f"{e2e_stack.url}/health")
        assert health.status_code == 503
        assert health.json()["services"]["fleet"]["status"] == "down"
        after = metric_total(http.get(metrics_url).text, UPSTREAM_ERRORS, **refused)
        assert after == before + 1
    finally:
        e2e_stack.stack.start_part("fleet")
        e2e_stack.stack.wait_until_healthy()
    assert http.get(f"{e2e_stack.url}/api/v1/fleet/vehicles", headers=auth).status_code == 200
