"""The manager's dashboard: what needs attention now, and the fleet's last months.

Two calls to the API besides ``/auth/me`` (made by ``@page``): the open alerts, and the
fleet's totals per calendar month (``/fleet/reports/fleet/monthly``, all months in one
answer, computed by the database). A driver who opens ``/`` is sent to their day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.wrappers import Response

from web.charts import Point, bar_chart
from web.i18n import as_money, as_number, label
from web.session import EVERYONE, api, current_user, page

bp = Blueprint("dashboard", __name__, url_prefix="")

# The current month and the five before it: half a year to compare with.
MONTHS = 6
# The most urgent alerts of each kind listed; the rest are counted and a link away.
LISTED = 5
# The API's alert kinds, most urgent first (its own order), with their headings and
# the page that lists all of a kind.
KINDS = ("inspection", "maintenance", "document", "license")
HEADINGS = {
    "inspection": _l("Failed inspections"),
    "maintenance": _l("Maintenance due"),
    "document": _l("Documents expiring"),
    "license": _l("Driver's licenses expiring"),
}
LISTS = {
    "inspection": "operations.inspections",
    "maintenance": "operations.maintenance",
    "document": "operations.documents",
    "license": "people.drivers",
}
# Worst first: the API lists failed inspections oldest first, whatever their severity.
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
LOWEST = len(SEVERITY_RANK)


@dataclass(frozen=True)
class AlertGroup:
    kind: str
    heading: str
    count: int
    listed: list[dict[str, Any]]
    list_endpoint: str


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup


def alert_link(alert: Mapping[str, Any]) -> str | None:
    """Where an alert is dealt with: the failed inspection, else its vehicle or driver."""
    if alert["kind"] == "inspection":
        return url_for("operations.inspection", inspection_id=alert["subject_id"])
    if alert.get("vehicle_id"):
        return url_for("vehicles.show", vehicle_id=alert["vehicle_id"])
    if alert.get("driver_id"):
        return url_for("people.driver", driver_id=alert["driver_id"])
    return None


def group_alerts(alerts: Sequence[Mapping[str, Any]]) -> list[AlertGroup]:
    """The alerts by kind (kinds without any left out), each kind's most urgent first."""
    groups = []
    for kind in KINDS:
        of_kind = [dict(a, link=alert_link(a)) for a in alerts if a["kind"] == kind]
        if not of_kind:
            continue
        if kind == "inspection":
            # Stable: of one severity, the oldest failure (the API's order) first.
            of_kind.sort(key=lambda a: SEVERITY_RANK.get(a.get("severity") or "", LOWEST))
        groups.append(
            AlertGroup(kind, str(HEADINGS[kind]), len(of_kind), of_kind[:LISTED], LISTS[kind])
        )
    return groups


def month_label(month: str) -> str:
    """``2026-07`` as the page's language writes a month (``jul. de 2026``, ``Jul 2026``)."""
    year, number = (int(part) for part in month.split("-"))
    return str(format_date(date(year, number, 1), "MMM y"))


def _value(value: Any) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def km_per_liter(month: Mapping[str, Any], fuel_type: str) -> str | None:
    for fuel in month["fuel_types"]:
        if fuel["fuel_type"] == fuel_type:
            value: str | None = fuel["km_per_liter"]
            return value
    return None


def measured_fuels(months: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fuels with a km/L measured in any of the months, in the API's order."""
    fuels: list[str] = []
    for month in months:
        for fuel in month["fuel_types"]:
            if fuel["km_per_liter"] is not None and fuel["fuel_type"] not in fuels:
                fuels.append(fuel["fuel_type"])
    return fuels


def charts(months: Sequence[Mapping[str, Any]], fuels: Sequence[str]) -> list[Chart]:
    """One bar chart per figure, a bar per month, this month's highlighted (the last)."""
    labels = [month_label(m["month"]) for m in months]

    def chart(title: str, values: Sequence[Any], shown: Callable[[float], str]) -> Chart:
        points = [Point(label, _value(v)) for label, v in zip(labels, values, strict=True)]
        return Chart(title, bar_chart(title, points, shown))

    made = [
        chart(str(_l("Km driven")), [m["km_driven"] for m in months], as_number),
        chart(str(_l("Fuel cost")), [m["fuel_cost"] for m in months], as_money),
        chart(str(_l("Cost per km")), [m["cost_per_km"] for m in months], as_money),
    ]
    for fuel in fuels:
        title = str(_l("km/L (%(fuel)s)", fuel=label(fuel)))
        made.append(
            chart(title, [km_per_liter(m, fuel) for m in months], lambda v: as_number(v, 2))
        )
    return made


@bp.get("/")
@page(EVERYONE)
def index() -> str | Response:
    if not current_user().is_manager:
        return redirect(url_for("driver.today"))
    client = api()
    alerts = client.get("/fleet/alerts")["items"]
    months = client.get("/fleet/reports/fleet/monthly", months=MONTHS)["months"]
    fuels = measured_fuels(months)
    return render_template(
        "dashboard/index.html",
        groups=group_alerts(alerts),
        alert_count=len(alerts),
        months=months,
        labels={m["month"]: month_label(m["month"]) for m in months},
        current=months[-1],
        fuels=fuels,
        charts=charts(months, fuels),
        km_per_liter=km_per_liter,
    )
