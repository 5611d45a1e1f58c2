"""Browser-facing safety: security headers on every response, and CORS from an allow-list."""

from __future__ import annotations

from flask import Flask, Response, request

from gateway.client_ip import Network, is_trusted, parse_networks
from shared.config import Settings
from shared.errors import APIError
from shared.json_body import parse_json

# JSON needs no scripts, styles or frames. The docs page (gateway/docs_page.py) loads
# Swagger UI from this origin; its stylesheet draws its icons as data: images.
JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
CORS_ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-ID, If-None-Match, Range"
CORS_EXPOSED_HEADERS = (
    "X-Request-ID, X-Next-Cursor, ETag, Content-Disposition, Content-Range, Retry-After, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
)
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
HSTS = "max-age=31536000; includeSubDomains"


def came_over_https(trusted: tuple[Network, ...]) -> bool:
    """HTTPS as seen by the client: our own TLS, or a trusted proxy (of ``trusted``) that
    says so."""
    if request.scheme == "https":
        return True
    if not trusted or not is_trusted(request.remote_addr or "", trusted):
        return False
    if request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        return True
    try:
        # The strict parser: a deeply nested header is a RecursionError to json.loads.
        visitor = parse_json(request.headers.get("CF-Visitor", "{}"))
    except APIError:
        return False
    return isinstance(visitor, dict) and visitor.get("scheme") == "https"


def register_security_headers(app: Flask, settings: Settings) -> None:
    trusted = parse_networks(settings.trusted_proxies)
    origins = frozenset(settings.cors_origins)

    @app.before_request
    def answer_cors_preflight() -> Response | None:
        """Preflights are answered here: they carry no token and reach no service."""
        origin = request.headers.get("Origin")
        if request.method != "OPTIONS" or not request.headers.get("Access-Control-Request-Method"):
            return None
        response = Response(status=204)
        if origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
            response.headers["Vary"] = "Origin"
        return response

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        # The docs page sets its own (DOCS_CSP).
        headers.setdefault("Content-Security-Policy", JSON_CSP)
        headers["Cross-Origin-Resource-Policy"] = "same-site"
        if came_over_https(trusted):
            headers["Strict-Transport-Security"] = HSTS
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
            headers.add("Vary", "Origin")
        return response
