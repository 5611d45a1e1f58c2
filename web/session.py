"""Who is signed in to the console, and which pages they may open.

The session is Flask's signed cookie, made HttpOnly and SameSite=Lax (Secure when the
browser came over HTTPS): it holds the user's API tokens, which no script on the page
can read, and the CSRF secret of its forms. It lasts as long as the refresh token;
nothing is kept server-side, so signing out is revoking the tokens at the API.

Each page asks the API who the user is (``GET /auth/me``) before anything else: a
session whose tokens were revoked is signed out there, on its next page, and a role
changed by an admin takes effect at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from shared import roles
from shared.roles import Role
from web.api import Api

P = ParamSpec("P")
R = TypeVar("R")

MANAGERS = frozenset(roles.MANAGERS)
EVERYONE = frozenset(Role)


@dataclass(frozen=True)
class User:
    id: str
    username: str
    full_name: str
    role: Role
    must_change_password: bool

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> User:
        return cls(
            body["id"],
            body["username"],
            body["full_name"],
            Role(body["role"]),
            bool(body["must_change_password"]),
        )

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGERS

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, Secure exactly when the browser's connection is HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        # request.scheme is the browser's (ProxyFix reads the gateway's X-Forwarded-Proto).
        return request.scheme == "https"


def api() -> Api:
    client: Api = current_app.extensions["frota_api"]
    return client


def start_session(tokens: dict[str, Any]) -> User:
    """Sign in with fresh tokens from a login or a password change."""
    session.clear()
    session.permanent = True
    session["tokens"] = {"access": tokens["access_token"], "refresh": tokens["refresh_token"]}
    return current_user()


def current_user() -> User:
    """The signed-in user as the API knows them now (once per request)."""
    if "user" not in g:
        g.user = User.from_api(api().get("/auth/me"))
    user: User = g.user
    return user


def home_of(user: User) -> str:
    return url_for("dashboard.index") if user.is_manager else url_for("driver.today")


def page(
    roles: frozenset[Role] = MANAGERS,
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """A page for signed-in users of ``roles``; others are sent to sign in or refused."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            if "tokens" not in session:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            user = current_user()
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            if user.role not in roles:
                abort(404)  # as the API does: what one may not see does not exist
            return view(*args, **kwargs)

        return guarded

    return decorate
