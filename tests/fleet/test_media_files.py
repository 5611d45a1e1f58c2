"""Attachments are checked with the media service, over its internal API."""

from __future__ import annotations

import uuid

import requests
from werkzeug.serving import make_server

import fleet_service
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from tests.fleet.conftest import photo_bytes
from tests.support.factories import make_user, make_vehicle
from tests.support.identity import ApiClient


def internal_get(settings, media_url, file_id, *, issuer):
    token = mint_internal_token(
        settings.internal_secret_key, issuer=issuer, audience="media", request_id=uuid.uuid4().hex
    )
    return requests.get(
        f"{media_url}/internal/files/{file_id}", headers={INTERNAL_TOKEN_HEADER: token}, timeout=5
    )


def test_services_look_files_up_and_the_gateway_may_not(
    settings, media_url, db_session, upload_photo
):
    owner = make_user(db_session, role="driver")
    file_id = upload_photo(owner)

    found = internal_get(settings, media_url, file_id, issuer="fleet")
    assert found.status_code == 200
    summary = found.json()
    assert summary["id"] == file_id
    assert summary["owner_id"] == str(owner.id)
    assert summary["content_type"] == "image/jpeg"
    assert summary["kind"] == "photo"
    assert summary["size"] == len(photo_bytes())

    unknown = internal_get(settings, media_url, uuid.uuid4(), issuer="fleet")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "file_not_found"
    refused = internal_get(settings, media_url, file_id, issuer="gateway")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "services_only"


def test_media_service_down_is_a_json_502(settings, database, db_session, manager):
    # A port where nothing listens (bound, then closed).
    server = make_server("127.0.0.1", 0, lambda environ, start_response: [])
    dead_url = f"http://127.0.0.1:{server.server_port}"
    server.server_close()
    app = fleet_service.create_app(
        settings.replace(service_urls={**settings.service_urls, "media": dead_url}),
        database=database,
    )
    api = ApiClient(app, "fleet", settings.internal_secret_key)
    body = {
        "vehicle_id": str(make_vehicle(db_session).id),
        "odometer_km": 100,
        "fuel_type": "gasoline",
        "liters": "10",
        "total_cost": "50",
        "full_tank": True,
        "receipt_media_id": str(uuid.uuid4()),
    }
    try:
        response = api.post("/api/v1/fleet/fuel-logs", user=manager, json=body)
    finally:
        app.extensions["media_files"].client.close()
    assert response.status_code == 502
    assert response.json["error"]["code"] == "upstream_unavailable"
    assert api.get("/api/v1/fleet/fuel-logs", user=manager).json["items"] == []
