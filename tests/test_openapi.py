"""Each service's OpenAPI document, generated from its code, is valid; so is the merge."""

from __future__ import annotations

from openapi_spec_validator import validate

from gateway.openapi import merge_documents


def test_every_service_document_is_valid_and_the_merge_too(auth_app, fleet_app, media_app):
    documents = {}
    for name, app in (("auth", auth_app), ("fleet", fleet_app), ("media", media_app)):
        with app.app_context():
            documents[name] = app.spec
        validate(documents[name])
    merged = merge_documents(documents)
    validate(merged)
    assert set(merged["paths"]) == {p for d in documents.values() for p in d["paths"]}


def test_internal_and_probe_routes_are_not_documented(auth_app, fleet_app, media_app):
    for app in (auth_app, fleet_app, media_app):
        with app.app_context():
            paths = app.spec["paths"]
        assert all(p.startswith("/api/v1/") for p in paths), paths


# The only operations a client calls without an access token.
PUBLIC_OPERATIONS = {("post", "/api/v1/auth/login")}


def test_every_operation_declares_who_may_call_it(auth_app, fleet_app, media_app):
    for app in (auth_app, fleet_app, media_app):
        with app.app_context():
            paths = app.spec["paths"]
        for path, operations in paths.items():
            for method, operation in operations.items():
                if (method, path) in PUBLIC_OPERATIONS:
                    assert "security" not in operation, (method, path)
                    continue
                assert [list(s) for s in operation["security"]] == [["bearerAuth"]], (method, path)
                assert "401" in operation["responses"], (method, path)


def test_role_restricted_operations_name_their_roles(auth_app, fleet_app):
    with fleet_app.app_context():
        fleet = fleet_app.spec["paths"]
    with auth_app.app_context():
        auth = auth_app.spec["paths"]

    assert fleet["/api/v1/fleet/vehicles"]["post"]["security"] == [
        {"bearerAuth": ["admin", "manager"]}
    ]
    assert fleet["/api/v1/fleet/vehicles"]["get"]["security"] == [{"bearerAuth": []}]
    assert auth["/api/v1/auth/users"]["get"]["security"] == [{"bearerAuth": ["admin"]}]
    assert "403" in fleet["/api/v1/fleet/vehicles"]["post"]["responses"]
    assert "403" in auth["/api/v1/auth/users"]["get"]["responses"]
    assert "403" not in fleet["/api/v1/fleet/vehicles"]["get"]["responses"]
