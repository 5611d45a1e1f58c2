"""The console's languages: pt-BR unless the browser asks for English.

Messages are English in the code and templates and translated by the catalog in
web/translations (`make translations` extracts and compiles it). Dates, numbers and
money are formatted for the page's language; times are shown in the fleet's time zone.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, request
from flask_babel import (
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    gettext,
)
from flask_babel import lazy_gettext as _l

LANGUAGES = ("pt_BR", "en")
DEFAULT = "pt_BR"
# Brazil's fleets first: every time is shown, and typed, as São Paulo's clock shows it.
TIME_ZONE = "America/Sao_Paulo"
FLEET_ZONE = ZoneInfo(TIME_ZONE)


def select_locale() -> str:
    """English only when the browser prefers it to Portuguese; pt-BR otherwise."""
    best = request.accept_languages.best_match(["pt-BR", "pt", "en"], default="pt-BR")
    return "en" if best == "en" else DEFAULT


def page_language() -> str:
    """The page's ``lang``: a BCP 47 tag, as HTML wants it."""
    return "en" if str(get_locale()) == "en" else "pt-BR"


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def as_date(value: Any) -> str:
    value = _parsed(value)
    if isinstance(value, datetime):
        return format_date(value.date() if value.tzinfo is None else value, "short")
    if isinstance(value, date):
        return format_date(value, "short")
    return "—" if value is None else str(value)


def as_datetime(value: Any) -> str:
    value = _parsed(value)
    if isinstance(value, datetime):
        return format_datetime(value, "short")
    return "—" if value is None else str(value)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def as_number(value: Any, places: int = 0) -> str:
    number = _decimal(value)
    if number is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(number, format=pattern)


def as_money(value: Any) -> str:
    number = _decimal(value)
    return "—" if number is None else format_currency(number, "BRL")


# The API answers in English. The messages it puts beside fields that a person can
# cause from the console's forms, listed here so that the catalog translates them
# (api_message looks each up by its English text; one not listed shows as written).
API_MESSAGES = (
    _l("Missing data for required field."),
    _l("Field may not be null."),
    _l("Not a valid integer."),
    _l("Not a valid number."),
    _l("Not a valid date."),
    _l("Not a valid datetime."),
    _l("must be a valid plate (ABC1234 or ABC1D23)"),
    _l("must be 17 letters or digits, without I, O or Q"),
    _l("must be 2 to 10 letters or digits"),
    _l("must be 5 to 20 letters or digits"),
    _l("must be after from"),
    _l("must be after starts_at"),
    _l("must be after the assignment starts"),
    _l("must be at least 10 characters long"),
    _l("must differ from the current password"),
    _l("must not be before valid_from"),
    _l("must not be in the future"),
    _l("must not be the username"),
    _l("is one of the most common passwords"),
    _l("no such driver"),
    _l("no such vehicle"),
    _l("no such user"),
    _l("no such schedule of this vehicle"),
    _l("no such trip of this vehicle"),
    _l("required when a manager checks out"),
    _l("required when the item failed"),
    _l("the user is deactivated"),
)


def api_message(message: str) -> str:
    """A message of the API's (English) in the page's language, where the catalog has it."""
    return gettext(message)


# The API's states and kinds (vehicles, schedules, alerts, roles, fuels), in words.
LABELS = {
    "active": _l("active"),
    "workshop": _l("in the workshop"),
    "inactive": _l("inactive"),
    "sold": _l("sold"),
    "retired": _l("retired"),
    "ok": _l("ok"),
    "due_soon": _l("due soon"),
    "due": _l("due"),
    "overdue": _l("overdue"),
    "open": _l("open"),
    "resolved": _l("resolved"),
    "passed": _l("passed"),
    "failed": _l("failed"),
    "expired": _l("expired"),
    "expiring": _l("expiring"),
    "admin": _l("admin"),
    "manager": _l("manager"),
    "driver": _l("driver"),
    "gasoline": _l("gasoline"),
    "ethanol": _l("ethanol"),
    "diesel": _l("diesel"),
    "cng": _l("natural gas"),
    "electric": _l("electric"),
    "low": _l("low"),
    "medium": _l("medium"),
    "high": _l("high"),
    "critical": _l("critical"),
    "maintenance": _l("maintenance"),
    "document": _l("document"),
    "license": _l("driver's license"),
    "inspection": _l("failed inspection"),
}


def label(value: Any) -> str:
    """A state or kind of the API's in the page's language (itself when unknown)."""
    if value is None:
        return "—"
    return str(LABELS.get(str(value), value))


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(
        date=as_date,
        datetime=as_datetime,
        number=as_number,
        money=as_money,
        api_message=api_message,
        label=label,
    )
    app.jinja_env.globals.update(status_label=label, page_language=page_language)
