"""The web console: server-rendered pages for managers and drivers.

A client of the public API like any other (web/api.py): it calls ``/api/v1`` through
the gateway with the signed-in user's own tokens and has no database and no internal
credential. The gateway serves it at ``/`` (gateway/console.py).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import Babel, lazy_gettext
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as WerkzeugResponse

from shared.config import Settings
from shared.logs import REQUEST_ID_HEADER, configure_logging, is_valid_request_id, new_request_id
from web import i18n
from web.api import Api, ApiError, PasswordChangeRequired, SignedOut
from web.forms import plain_words
from web.session import ConsoleSessionInterface
from web.views import BLUEPRINTS

# Scripts and styles from this origin only, never inline; photos are previewed from
# blob: URLs before they are sent; forms post to this origin only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging("web", settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config.update(
        FROTA_SETTINGS=settings,
        SECRET_KEY=settings.web_secret_key,
        SESSION_COOKIE_NAME="frota_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.jwt_refresh_token_days),
        # The CSRF token lives as long as the session that holds its secret.
        WTF_CSRF_TIME_LIMIT=None,
        # A form with a few phone photos (the gateway refuses more before it gets here).
        MAX_CONTENT_LENGTH=6 * settings.media_max_upload_mb * 1024 * 1024 + 256 * 1024,
    )
    # The gateway is the console's only client: its X-Forwarded-For and -Proto are the
    # browser's address and scheme.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    app.session_interface = ConsoleSessionInterface()
    app.extensions["frota_api"] = Api(settings.api_url, timeout=settings.upstream_read_timeout)
    CSRFProtect(app)
    Babel(
        app,
        locale_selector=i18n.select_locale,
        default_locale=i18n.DEFAULT,
        default_timezone=i18n.TIME_ZONE,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    i18n.register_filters(app)
    app.jinja_env.globals.update(plain_words=plain_words)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    _register_hooks(app)
    return app


def _register_hooks(app: Flask) -> None:
    @app.get("/livez")
    def liveness() -> Response:
        """The console's process answers (its health check; no API call)."""
        return Response("ok", mimetype="text/plain")

    @app.before_request
    def request_id() -> None:
        claimed = request.headers.get(REQUEST_ID_HEADER)
        g.request_id = claimed if is_valid_request_id(claimed) else new_request_id()

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if response.mimetype == "text/html":
            # Pages show the user's data: never stored by a shared cache or the back button
            # of a signed-out browser.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(SignedOut)
    def signed_out(_exc: SignedOut) -> WerkzeugResponse:
        flash(lazy_gettext("Your session has ended. Please sign in again."), "warning")
        return redirect(url_for("auth.login"))

    @app.errorhandler(PasswordChangeRequired)
    def password_change(_exc: PasswordChangeRequired) -> WerkzeugResponse:
        return redirect(url_for("auth.change_password"))

    @app.errorhandler(CSRFError)
    def csrf_refused(_exc: CSRFError) -> tuple[str, int]:
        return render_template("error.html", status=400, reason="csrf"), 400

    @app.errorhandler(ApiError)
    def api_refused(exc: ApiError) -> tuple[str, int]:
        # A refusal no form could show beside a field: a page of its own, same status.
        status = exc.status if exc.status in (403, 404, 409, 429, 503, 507) else 502
        return render_template("error.html", status=status, reason=exc.code, error=exc), status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        status = exc.code or 500
        return render_template("error.html", status=status, reason=str(status)), status
