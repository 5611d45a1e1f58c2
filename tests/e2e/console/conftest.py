"""The web console over HTTP, as a browser without JavaScript uses it: pages through the
gateway, forms posted with their CSRF token, one signed-in cookie session per user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.helpers import new_user

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Console:
    """A browser's view of the console: one cookie session, pages by path."""

    url: str
    http: requests.Session
    language: str = "en"

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.http.get(self.url + path, headers={"Accept-Language": self.language}, **options)

    def submit(
        self, path: str, data: dict[str, Any], *, form_page: str | None = None, **options: Any
    ) -> requests.Response:
        """Post ``data`` to ``path`` as the form on ``form_page`` (default: ``path``) would,
        with that page's CSRF token; redirects are not followed."""
        page = self.get(form_page or path)
        assert page.status_code == 200, page.text
        return self.http.post(
            self.url + path,
            data={"csrf_token": csrf_token(page.text), **data},
            headers={"Accept-Language": self.language},
            allow_redirects=False,
            **options,
        )

    def sign_in(self, username: str, password: str) -> requests.Response:
        return self.submit("/login", {"username": username, "password": password})


def console_of(stack: RunningStack, role: str, language: str = "en") -> tuple[Console, dict]:
    """A new user of ``role`` (past the first password change) signed in to the console."""
    user = new_user(requests.Session(), stack, role)
    console = Console(stack.url, requests.Session(), language)
    signed_in = console.sign_in(user["username"], user["password"])
    assert signed_in.status_code == 302, signed_in.text
    return console, user


@pytest.fixture
def manager_console(e2e_stack: RunningStack) -> Console:
    return console_of(e2e_stack, "manager")[0]
