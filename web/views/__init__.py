"""The console's pages, one blueprint per area."""

from __future__ import annotations

from web.views import auth, dashboard, driver, media, operations, people, reports, vehicles

BLUEPRINTS = (
    auth.bp,
    dashboard.bp,
    vehicles.bp,
    people.bp,
    operations.bp,
    reports.bp,
    driver.bp,
    media.bp,
)
