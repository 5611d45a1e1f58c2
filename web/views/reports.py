"""Reports (the fleet's figures over a period, and their CSV) and the media storage's usage."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField

from web.api import ApiError
from web.forms import ApiForm
from web.i18n import TIME_ZONE
from web.session import api, page

bp = Blueprint("reports", __name__, url_prefix="/reports")

# The default period: the last 30 days, today included.
DEFAULT_DAYS = 30
# The per-vehicle table shows this many rows; the CSV has every vehicle.
SHOWN_VEHICLES = 100
RELAYED = ("Content-Type", "Content-Disposition")


class PeriodForm(ApiForm):
    """``?from=&to=`` (days, both included), as the API's report names its period."""

    class Meta:
        csrf = False  # a GET form: it changes nothing

    to = DateField(_l("To (included)"))


# ``from`` is a Python keyword: the field is named as the API's parameter all the same.
setattr(PeriodForm, "from", DateField(_l("From")))


def _period_form() -> FlaskForm:
    today = datetime.now(ZoneInfo(TIME_ZONE)).date()
    defaults = {"from": today - timedelta(days=DEFAULT_DAYS - 1), "to": today}
    # Without a query, the default period; with one, what it says.
    form = PeriodForm(formdata=request.args or None, data=defaults)
    return form


def _start_of(day: date) -> str:
    """A day's first moment in the fleet's time zone (the API takes moments)."""
    return datetime.combine(day, time.min, ZoneInfo(TIME_ZONE)).isoformat()


def _period(form: FlaskForm) -> dict[str, str]:
    """The API's period: from the first day's start to the day after the last (excluded)."""
    return {
        "from": _start_of(form["from"].data),
        "to": _start_of(form["to"].data + timedelta(days=1)),
    }


def _query(form: FlaskForm) -> dict[str, str]:
    """The period as this page's query (the CSV link carries it)."""
    return {"from": form["from"].data.isoformat(), "to": form["to"].data.isoformat()}


@bp.get("")
@page()
def index() -> str | tuple[str, int]:
    form = _period_form()
    report = None
    if form.validate():
        try:
            report = api().get("/fleet/reports/fleet", **_period(form))
        except ApiError as error:
            if error.status != 422:
                raise
            form.show(error)
    if form.errors:
        return render_template("reports/index.html", form=form, report=None), 422
    return render_template(
        "reports/index.html",
        form=form,
        report=report,
        vehicles=report["vehicles"][:SHOWN_VEHICLES] if report else [],
        shown=SHOWN_VEHICLES,
        csv_query=_query(form),
    )


@bp.get("/fleet.csv")
@page()
def fleet_csv() -> Response:
    """The API's CSV of the same report, streamed through as the user asked for it."""
    form = _period_form()
    if not form.validate():
        abort(422)  # only a hand-made link gets here: the report page's link is valid
    try:
        upstream, chunks = api().stream("/fleet/reports/fleet", format="csv", **_period(form))
    except ApiError as error:
        if error.status != 422:
            raise
        abort(422)
    headers = {name: upstream.headers[name] for name in RELAYED if name in upstream.headers}
    # The fleet's figures: kept by no cache.
    return Response(chunks, headers={**headers, "Cache-Control": "no-store"})


def as_size(size: int | None) -> str:
    """Bytes for people: 1.5 MB, 2.3 GB, counted in 1024s as MEDIA_QUOTA_MB is (10240 MB
    of quota reads 10.0 GB)."""
    if size is None:
        return "—"
    value: float = size
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    pattern = "#,##0" if unit == "B" else "#,##0.0"
    return f"{format_decimal(value, format=pattern)} {unit}"


@bp.get("/media")
@page()
def media() -> str:
    usage: dict[str, Any] = api().get("/media/usage")
    taken = usage["used_bytes"] + usage["reserved_bytes"]
    quota = usage["quota_bytes"]
    share = 100 * taken / quota if quota else None
    return render_template(
        "reports/media.html",
        usage=usage,
        taken=taken,
        share=share,
        as_size=as_size,
    )
