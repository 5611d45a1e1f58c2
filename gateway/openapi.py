"""One OpenAPI document for the whole API, merged from the services' own.

Each service generates its document from its code (APIFlask schemas); the
gateway fetches them with an internal credential, merges paths, schemas and
tags, and serves the result with a browsable page. The merged document is
cached for a minute per worker, so a redeployed service shows up by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify

from shared.http_client import ServiceClient
from shared.openapi import ERROR_CONTENT

CACHE_SECONDS = 60.0

# What the gateway itself answers, in front of every operation.
GATEWAY_ERRORS = {
    414: "The request line (path and query) is too long (uri_too_long)",
    431: "Too many header fields, or one too large (request_header_fields_too_large)",
    429: "Too many requests (rate_limited, or a login limit's code): Retry-After says when "
    "to try again, RateLimit-* what is left",
    502: "A service failed to answer (upstream_error)",
    503: "A service or the gateway cannot take the request now (service_unavailable, "
    "gateway_busy, revocation_unavailable, database_unavailable): retry after Retry-After",
    504: "A service took too long to answer (upstream_timeout)",
}
# And in front of every operation that takes a body.
GATEWAY_BODY_ERRORS = {
    400: "The body is malformed or ended before it was complete (malformed_body)",
    408: "The body stopped arriving (request_timeout)",
    413: "The body is larger than this operation takes (payload_too_large)",
}


def merge_documents(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge per-service OpenAPI documents into one (paths never overlap by design),
    with the statuses the gateway answers itself on each operation."""
    versions = {document.get("openapi", "3.1.0") for document in documents.values()}
    merged: dict[str, Any] = {
        # The services' generator (APIFlask) writes 3.1 documents.
        "openapi": max(versions) if versions else "3.1.0",
        "info": {
            "title": "Frota API",
            "version": "1.0.0",
            "description": "Fleet management: auth, fleet and media, through one gateway.",
        },
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
        "tags": [],
    }
    seen_tags: set[str] = set()
    for document in documents.values():
        merged["paths"].update(document.get("paths", {}))
        components = document.get("components", {})
        merged["components"]["schemas"].update(components.get("schemas", {}))
        merged["components"]["securitySchemes"].update(components.get("securitySchemes", {}))
        for tag in document.get("tags", []):
            if tag["name"] not in seen_tags:
                seen_tags.add(tag["name"])
                merged["tags"].append(tag)
    for operations in merged["paths"].values():
        for operation in operations.values():
            _add_gateway_errors(operation)
    return merged


def _add_gateway_errors(operation: dict[str, Any]) -> None:
    # An operation without declared security is public (login): said, not inherited.
    operation.setdefault("security", [])
    errors = dict(GATEWAY_ERRORS)
    if "requestBody" in operation:
        errors |= GATEWAY_BODY_ERRORS
    for status, description in sorted(errors.items()):
        operation["responses"].setdefault(
            str(status), {"description": description, "content": ERROR_CONTENT}
        )


class MergedSpec:
    def __init__(self, services: Mapping[str, ServiceClient]) -> None:
        self.services = services
        self._document: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def document(self) -> dict[str, Any]:
        with self._lock:
            if self._document is None or time.monotonic() - self._fetched_at > CACHE_SECONDS:
                self._document = merge_documents(
                    {
                        name: client.get_json("/openapi.json", on_behalf_of_user=False)
                        for name, client in self.services.items()
                    }
                )
                self._fetched_at = time.monotonic()
            return self._document


def register_openapi(app: Flask, services: Mapping[str, ServiceClient]) -> None:
    spec = MergedSpec(services)

    @app.get("/api/v1/openapi.json")
    def openapi_document() -> Response:
        return jsonify(spec.document())
