"""The docs page and the Swagger UI files it loads, served by the gateway itself: nothing
from another origin, no inline script, only the allow-listed files, and the strict CSP.
(tests/e2e/test_docs_page.py renders it in a browser.)"""

from __future__ import annotations

import re

import pytest

from gateway.web_security import DOCS_CSP
from tests.gateway.conftest import assert_json_error

ASSETS = {
    "/api/docs/assets/swagger-ui.css": "text/css; charset=utf-8",
    "/api/docs/assets/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "/api/docs/assets/frota-docs.js": "text/javascript; charset=utf-8",
}


def test_the_page_loads_only_the_gateways_own_files(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.text
    assert "//" not in page
    assert "<style" not in page
    assert "style=" not in page
    referenced = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sorted(referenced) == sorted([*ASSETS, "data:,"])
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.DOTALL)
    assert len(scripts) == 2
    assert all("src=" in attributes and body == "" for attributes, body in scripts)


def test_the_page_has_the_strict_csp(client):
    csp = client.get("/api/docs").headers["Content-Security-Policy"]
    assert csp == DOCS_CSP
    assert set(csp.split("; ")) == {
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    }


@pytest.mark.parametrize(("path", "content_type"), ASSETS.items())
def test_each_asset_is_served_with_its_type_and_a_validator(client, path, content_type):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == "public, no-cache"
    assert len(response.data) > 100
    again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_the_initializer_loads_the_merged_document(client):
    script = client.get("/api/docs/assets/frota-docs.js").text
    assert 'url: "/api/v1/openapi.json"' in script
    assert 'dom_id: "#docs"' in script


@pytest.mark.parametrize(
    "path",
    [
        "/api/docs/assets/index.css",
        "/api/docs/assets/swagger-ui.js",
        "/api/docs/assets/",
        "/api/docs/assets/dist/swagger-ui.css",
        "/api/docs/assets/..%2fswagger-ui.css",
        "/api/docs/assets/..%2f..%2fweb_security.py",
        "/api/docs/assets/%2e%2e%2f%2e%2e%2fstatic%2ffrota-docs.js",
        "/api/docs/assets/..%252fopenapi.py",
        "/api/docs/assets/frota-docs.js%00",
    ],
)
def test_anything_else_under_assets_is_a_json_404(client, upstream, path):
    assert_json_error(client.get(path), 404, "not_found")
    assert upstream.received == []


def test_the_page_and_its_files_are_not_rate_limited(make_gateway):
    client = make_gateway(RATE_LIMIT_DEFAULT="2/minute").test_client()
    loads = [client.get(path).status_code for _ in range(3) for path in ["/api/docs", *ASSETS]]
    assert loads == [200] * 12
