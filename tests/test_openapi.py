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
