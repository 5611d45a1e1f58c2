"""The browsable API documentation at ``/api/docs``: Swagger UI, served by the gateway itself.

Swagger UI's files come from the flask-swagger-ui package (its ``dist`` folder),
the page's initializer from ``gateway/static``. The page loads nothing from
another origin and runs no inline script, so it works offline and under
DOCS_CSP, which allows this origin only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from flask import Flask, Response, request

from gateway.web_security import DOCS_CSP
from shared.errors import APIError

ASSETS_PATH = "/api/docs/assets"
# The empty data: icon keeps browsers from asking for /favicon.ico (a JSON 404 here).
DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Frota API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
  <script defer src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script defer src="{ASSETS_PATH}/frota-docs.js"></script>
</head>
<body>
  <div id="docs"></div>
</body>
</html>
"""


@dataclass(frozen=True)
class Asset:
    body: bytes
    mimetype: str
    etag: str


def _asset(resource: Traversable, mimetype: str) -> Asset:
    body = resource.read_bytes()
    return Asset(body, mimetype, hashlib.sha256(body).hexdigest()[:32])


def load_assets() -> dict[str, Asset]:
    """The files the page may load, by name: nothing else is served under ASSETS_PATH."""
    swagger_ui = files("flask_swagger_ui") / "dist"
    ours = files("gateway") / "static"
    return {
        "swagger-ui.css": _asset(swagger_ui / "swagger-ui.css", "text/css"),
        "swagger-ui-bundle.js": _asset(swagger_ui / "swagger-ui-bundle.js", "text/javascript"),
        "frota-docs.js": _asset(ours / "frota-docs.js", "text/javascript"),
    }


def register_docs_page(app: Flask) -> None:
    # Read once per worker: the files change only with a new release.
    assets = load_assets()

    @app.get("/api/docs")
    def api_docs() -> Response:
        return Response(
            DOCS_PAGE, mimetype="text/html", headers={"Content-Security-Policy": DOCS_CSP}
        )

    # A path, not a name: whatever is asked for under ASSETS_PATH, even with an
    # encoded "/", is looked up here and never reaches the proxy's catch-all.
    @app.get(f"{ASSETS_PATH}/<path:name>")
    def docs_asset(name: str) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise APIError(404, message="No such resource")
        response = Response(asset.body, mimetype=asset.mimetype)
        # The names carry no version: a browser keeps its copy, asks again each time
        # and is answered 304 until an upgrade changes the file.
        response.headers["Cache-Control"] = "public, no-cache"
        response.set_etag(asset.etag)
        response.make_conditional(request)
        return response
