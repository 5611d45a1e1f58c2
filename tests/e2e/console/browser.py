"""A real browser on the console: Debian's chromium driven by Playwright, every page it
opens checked by axe-core (no serious or critical violation) and for CSP violations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page

# Playwright's own browser builds cannot be downloaded here: the Makefile installs this one.
CHROMIUM = "/usr/bin/chromium"
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
# A small phone, as the issue asks the driver's pages to work at.
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
# The page's own listener, added before any of its scripts run (an init script is not an
# inline script of the page, so the CSP does not apply to it).
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
BLOCKING = {"serious", "critical"}
axe = Axe()


@dataclass
class Findings:
    """What the checks found on every page a test opened, reported together at the end."""

    accessibility: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    def check(self, page: Page) -> None:
        """axe-core and the CSP record on the page as it is now (once per path and language)."""
        page.wait_for_load_state()
        key = f"{page.url.split('?')[0]} [{page.evaluate('document.documentElement.lang')}]"
        if key in self.checked:
            return
        self.checked.add(key)
        results = axe.run(page)
        for violation in results.response["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [node["target"] for node in violation["nodes"]][:3]
                rule = f"{violation['id']} ({violation['impact']}): {violation['help']}"
                self.accessibility.append(f"{key}: {rule} {targets}")
        self.csp += [f"{key}: {v}" for v in page.evaluate("window.cspViolations")]

    def assert_clean(self) -> None:
        assert self.accessibility == [], "\n".join(self.accessibility)
        assert self.csp == [], "\n".join(self.csp)


@contextmanager
def user_agent(
    browser: Browser, base_url: str, language: str, findings: Findings, device: dict[str, Any]
) -> Iterator[Page]:
    """A fresh browser profile (its own cookies) speaking ``language``, on ``device``."""
    context: BrowserContext = browser.new_context(
        base_url=base_url, locale=language, accept_downloads=True, **device
    )
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
