"""Signing in to the console and staying signed in, through the real stack: the cookie,
the languages, the forced password change, CSRF, refresh, logout and revocation."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import requests
from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token

import web
from shared.tokens import configure_jwt
from tests.e2e.conftest import RunningStack
from tests.e2e.console.conftest import Console, console_of, csrf_token
from tests.e2e.helpers import admin_token, bearer, login


def signed_out_soon(get: Callable[[], requests.Response]) -> requests.Response:
    """The first answer that is no longer a page: the gateway learns of a revocation
    within a second (tests/e2e/test_revocation.py), so allow it three."""
    deadline = time.monotonic() + 3
    answer = get()
    while answer.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = get()
    return answer


def session_cookie(console: Console) -> str:
    cookie = console.http.cookies.get("frota_session")
    assert cookie
    return cookie


def test_the_login_page_speaks_pt_br_by_default_and_english_when_asked(e2e_stack: RunningStack):
    default = requests.get(f"{e2e_stack.url}/login", timeout=10)
    english = requests.get(
        f"{e2e_stack.url}/login", headers={"Accept-Language": "en-US,en"}, timeout=10
    )
    portuguese_first = requests.get(
        f"{e2e_stack.url}/login",
        headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"},
        timeout=10,
    )

    assert '<html lang="pt-BR">' in default.text
    assert ">Usuário</label>" in default.text
    assert ">Entrar</button>" in default.text
    assert '<html lang="en">' in english.text
    for label in (">Username</label>", ">Password</label>", ">Sign in</button>"):
        assert label in english.text
    assert '<html lang="pt-BR">' in portuguese_first.text


def test_the_session_cookie_is_httponly_and_samesite_lax_and_the_page_is_locked_down(
    e2e_stack: RunningStack,
):
    response = requests.get(f"{e2e_stack.url}/login", timeout=10)

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("frota_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in response.text  # no inline script on the page
    assert response.headers["Cache-Control"] == "no-store"


def test_the_cookie_is_secure_when_the_browser_came_over_https(e2e_stack: RunningStack):
    # The console believes the scheme its one client, the gateway, forwards.
    client = web.create_app(e2e_stack.settings).test_client()

    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})

    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_is_said_in_words_beside_the_form(e2e_stack: RunningStack):
    console = Console(e2e_stack.url, requests.Session(), "en")

    refused = console.sign_in("nobody-at-all", "not-the-password")

    assert refused.status_code == 401
    assert "Wrong username or password." in refused.text
    assert "frota_session" in console.http.cookies  # the CSRF secret only: not signed in
    assert console.get("/vehicles", allow_redirects=False).status_code == 302


def test_a_first_sign_in_lands_on_the_password_change_page_not_an_error(
    e2e_stack: RunningStack, http: requests.Session
):
    created = http.post(
        f"{e2e_stack.url}/api/v1/auth/users",
        headers=bearer(admin_token(http, e2e_stack)),
        json={"username": "first-timer-console", "full_name": "Ana Lima", "role": "manager"},
    )
    assert created.status_code == 201, created.text
    one_time = created.json()["one_time_password"]
    console = Console(e2e_stack.url, requests.Session(), "en")

    signed_in = console.sign_in("first-timer-console", one_time)

    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/password"
    # Any page sends them back there until the password is changed.
    gated = console.get("/vehicles", allow_redirects=False)
    assert gated.headers["Location"] == "/password"
    weak = console.submit(
        "/password",
        {"current_password": one_time, "new_password": "short", "confirm_password": "short"},
    )
    assert weak.status_code == 422
    assert "must be at least 10 characters long" in weak.text  # beside the new password
    changed = console.submit(
        "/password",
        {
            "current_password": one_time,
            "new_password": "a-long-new-password",
            "confirm_password": "a-long-new-password",
        },
    )
    assert changed.status_code == 302
    assert console.get("/vehicles").status_code == 200


def test_a_form_posted_without_its_csrf_token_is_refused(e2e_stack: RunningStack):
    console, _ = console_of(e2e_stack, "manager")

    forged = console.http.post(
        f"{e2e_stack.url}/vehicles/new",
        data={"plate": "CSR1F00", "make": "Fiat", "model": "Uno", "year": "2020"},
        headers={"Accept-Language": "en"},
    )
    wrong = console.http.post(
        f"{e2e_stack.url}/vehicles/new",
        data={"csrf_token": "made-up", "plate": "CSR1F00"},
        headers={"Accept-Language": "en"},
    )

    for refused in (forged, wrong):
        assert refused.status_code == 400
        assert "did not come from this site" in refused.text
    assert "No vehicle matches." in console.get("/vehicles?q=CSR1F00").text


def test_logout_revokes_the_tokens_so_a_copied_cookie_is_signed_out(e2e_stack: RunningStack):
    console, _ = console_of(e2e_stack, "manager")
    stolen = session_cookie(console)
    page = console.get("/vehicles")

    logged_out = console.http.post(
        f"{e2e_stack.url}/logout",
        data={"csrf_token": csrf_token(page.text)},
        allow_redirects=False,
    )
    assert logged_out.headers["Location"] == "/login"

    replayed = signed_out_soon(
        lambda: requests.get(
            f"{e2e_stack.url}/vehicles",
            headers={"Cookie": f"frota_session={stolen}"},
            allow_redirects=False,
            timeout=10,
        )
    )
    assert replayed.status_code == 302
    assert replayed.headers["Location"] == "/login"


def test_a_session_whose_tokens_were_revoked_is_signed_out_on_its_next_page(
    e2e_stack: RunningStack,
):
    console, user = console_of(e2e_stack, "manager")
    assert console.get("/vehicles").status_code == 200

    # The user changes the password elsewhere (another device, through the API).
    elsewhere = login(requests.Session(), e2e_stack, user["username"], user["password"]).json()
    changed = requests.post(
        f"{e2e_stack.url}/api/v1/auth/me/password",
        headers=bearer(elsewhere["access_token"]),
        json={"current_password": user["password"], "new_password": "changed-elsewhere-pw"},
        timeout=10,
    )
    assert changed.status_code == 200

    next_page = signed_out_soon(lambda: console.get("/vehicles", allow_redirects=False))
    assert next_page.status_code == 302
    assert next_page.headers["Location"] == "/login"
    signed_out = console.get("/login")
    assert "Your session has ended. Please sign in again." in signed_out.text


def test_an_expired_access_token_is_refreshed_without_the_user_noticing(e2e_stack: RunningStack):
    _, user = console_of(e2e_stack, "manager")
    app = web.create_app(e2e_stack.settings)
    minter = Flask("expired-token-minter")
    configure_jwt(minter, e2e_stack.settings)
    JWTManager(minter)
    with minter.app_context():
        expired = create_access_token(
            identity=user["id"],
            additional_claims={"role": "manager", "mcp": False, "gen": 1},
            expires_delta=timedelta(seconds=-30),
        )
    # A session as the console writes it, but its access token has run out.
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = serializer.dumps(
        {"tokens": {"access": expired, "refresh": user["refresh_token"]}, "_permanent": True}
    )

    def vehicles_with(session: str) -> requests.Response:
        return requests.get(
            f"{e2e_stack.url}/vehicles",
            headers={"Cookie": f"frota_session={session}"},
            allow_redirects=False,
            timeout=10,
        )

    page = vehicles_with(cookie)

    assert page.status_code == 200
    renewed = page.cookies["frota_session"]
    tokens = serializer.loads(renewed)["tokens"]
    assert tokens["refresh"] == user["refresh_token"]
    assert tokens["access"] != expired
    assert vehicles_with(renewed).status_code == 200


def test_the_apis_refusal_is_shown_beside_its_field_in_the_pages_language(
    e2e_stack: RunningStack,
):
    console, _ = console_of(e2e_stack, "manager", language="pt-BR")

    refused = console.submit(
        "/vehicles/new",
        {
            "plate": "NOT-A-PLATE",
            "make": "Fiat",
            "model": "Strada",
            "year": "2024",
            "fuel_types": "gasoline",
        },
    )

    assert refused.status_code == 422
    assert '<p class="error" id="plate-error">deve ser uma placa válida' in refused.text
