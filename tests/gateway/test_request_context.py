"""What the gateway's first hook establishes (gateway/context.py) reaches every later one:
the access log, the metrics and the service all see the same request."""

from __future__ import annotations

import logging
import uuid

from shared.internal_auth import INTERNAL_TOKEN_HEADER, verify_internal_token
from tests.gateway.conftest import access_token, bearer, settings_of

PROTECTED = "/api/v1/fleet/vehicles"


def test_the_access_log_names_the_user_of_the_client_token(gateway_app, client, caplog):
    user_id = str(uuid.uuid4())
    with caplog.at_level(logging.INFO, logger="frota.access"):
        response = client.get(PROTECTED, headers=bearer(access_token(gateway_app, user_id=user_id)))
        client.get("/livez")
    assert response.status_code == 200
    protected, public = [r for r in caplog.records if r.name == "frota.access"]
    assert (protected.path, protected.user_id) == (PROTECTED, user_id)
    assert (public.path, public.user_id) == ("/livez", None)


def test_the_service_gets_the_request_id_and_user_the_gateway_established(
    gateway_app, client, upstream
):
    user_id = str(uuid.uuid4())
    headers = {**bearer(access_token(gateway_app, user_id=user_id)), "X-Request-ID": "req-ctx-0001"}
    response = client.get(PROTECTED, headers=headers)
    assert response.headers["X-Request-ID"] == "req-ctx-0001"
    credential = upstream.only().header(INTERNAL_TOKEN_HEADER) or ""
    identity = verify_internal_token(
        credential, settings_of(gateway_app).internal_secret_key, audience="fleet"
    )
    assert (identity.request_id, identity.user_id, identity.caller) == (
        "req-ctx-0001",
        user_id,
        "gateway",
    )
