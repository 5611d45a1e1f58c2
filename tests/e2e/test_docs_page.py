"""/api/docs in a real browser (Debian's chromium, driven by Playwright) with every origin
but the stack's out of reach: Swagger UI renders the whole API from the gateway alone,
and nothing on the page breaks DOCS_CSP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Route, sync_playwright

from tests.e2e.conftest import RunningStack

# Playwright's own browser builds cannot be downloaded everywhere we test: the Makefile
# installs this one.
CHROMIUM = "/usr/bin/chromium"
# The page's own listener, added before any of its scripts run; an init script is not
# the page's inline script, so DOCS_CSP does not apply to it.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
LOGIN = '.opblock-post:has(.opblock-summary-path[data-path="/api/v1/auth/login"])'


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def listed_operations(document: dict[str, Any]) -> int:
    """How many operations Swagger UI lists: each under every one of its tags (or one)."""
    return sum(
        max(1, len(operation.get("tags", [])))
        for path_item in document["paths"].values()
        for method, operation in path_item.items()
        if method in HTTP_METHODS
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


def test_docs_page_renders_every_operation_from_the_gateway_alone(
    e2e_stack: RunningStack, browser: Browser, http: requests.Session
) -> None:
    document = http.get(f"{e2e_stack.url}/api/v1/openapi.json").json()
    origin = origin_of(e2e_stack.url)
    served: set[str] = set()
    elsewhere: list[str] = []
    console_errors: list[str] = []

    def only_the_stack(route: Route) -> None:
        if origin_of(route.request.url) == origin:
            served.add(urlsplit(route.request.url).path)
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page = browser.new_page()
    try:
        page.route("**/*", only_the_stack)
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        page.on("console", record)
        page.on("pageerror", lambda error: console_errors.append(str(error)))

        page.goto(f"{e2e_stack.url}/api/docs")
        page.locator(LOGIN).wait_for(timeout=30_000)

        assert page.locator(".opblock").count() == listed_operations(document) >= 30
        assert page.locator(LOGIN).is_visible()
        assert elsewhere == []
        assert served == {
            "/api/docs",
            "/api/docs/assets/swagger-ui.css",
            "/api/docs/assets/swagger-ui-bundle.js",
            "/api/docs/assets/frota-docs.js",
            "/api/v1/openapi.json",
        }
        assert page.evaluate("window.cspViolations") == []
        assert console_errors == []
    finally:
        page.close()
