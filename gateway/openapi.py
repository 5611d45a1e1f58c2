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

from gateway.web_security import DOCS_CSP
from shared.http_client import ServiceClient

CACHE_SECONDS = 60.0
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Frota API</title>
  <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
  <script>SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#docs"});</script>
</body>
</html>
"""


def merge_documents(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge per-service OpenAPI documents into one (paths never overlap by design)."""
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
        "components": {
            "schemas": {},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
        "tags": [],
    }
    seen_tags: set[str] = set()
    for document in documents.values():
        merged["paths"].update(document.get("paths", {}))
        merged["components"]["schemas"].update(document.get("components", {}).get("schemas", {}))
        for tag in document.get("tags", []):
            if tag["name"] not in seen_tags:
                seen_tags.add(tag["name"])
                merged["tags"].append(tag)
    return merged


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

    @app.get("/api/docs")
    def api_docs() -> Response:
        return Response(
            DOCS_PAGE, mimetype="text/html", headers={"Content-Security-Policy": DOCS_CSP}
        )
