"""The manager's day-to-day pages: assignments, trips, fuel, maintenance, inspections, documents.

Each list is the API's list with its filters as a GET form and its keyset cursor in the
pager; rows name their vehicle and driver (see :class:`Fleet`). Forms post to the API
as the signed-in manager; what the API refuses is shown beside the field it names
(422) or in plain words (409).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional

from web.api import ApiError
from web.forms import (
    FORM_REFUSALS,
    ApiForm,
    CommaDecimalField,
    KmField,
    LocalDateTimeField,
    plain_words,
)
from web.i18n import FLEET_ZONE, LABELS
from web.session import api, page

bp = Blueprint("operations", __name__, url_prefix="")

PAGE_SIZE = 25
# The API's largest page: what a select offers and what one CSV download holds.
MAX_LIMIT = 200
FUEL_TYPES = ("gasoline", "ethanol", "diesel", "cng", "electric")
DUE_STATUSES = ("ok", "due_soon", "overdue")
# Headers of the API's CSV the browser needs to save it as a file.
CSV_HEADERS = ("Content-Type", "Content-Disposition")
# Phones show a keypad of digits for these.
NUMERIC = {"inputmode": "numeric"}


# --- Forms (field names are the API body's) -----------------------------------------


class AssignmentForm(ApiForm):
    vehicle_id = SelectField(_l("Vehicle"), validators=[InputRequired()])
    driver_id = SelectField(_l("Driver"), validators=[InputRequired()])
    starts_at = LocalDateTimeField(
        _l("Starts"), validators=[InputRequired()], description=_l("São Paulo time")
    )
    ends_at = LocalDateTimeField(
        _l("Ends (optional)"),
        validators=[Optional()],
        description=_l("Blank: until someone ends it"),
    )


class FuelLogForm(ApiForm):
    vehicle_id = SelectField(_l("Vehicle"), validators=[InputRequired()])
    fuel_type = SelectField(
        _l("Fuel"), choices=[(f, LABELS[f]) for f in FUEL_TYPES], validators=[InputRequired()]
    )
    filled_at = LocalDateTimeField(_l("Filled at (blank: now)"), validators=[Optional()])
    odometer_km = KmField(_l("Odometer (km)"), validators=[InputRequired()])
    liters = CommaDecimalField(_l("Litres"), validators=[InputRequired()])
    total_cost = CommaDecimalField(_l("Total cost (R$)"), validators=[InputRequired()])
    station = StringField(_l("Station (optional)"), validators=[Optional()])
    full_tank = BooleanField(_l("Filled the tank up"))
    missed_previous = BooleanField(_l("The previous fill was not logged"))
    confirm = BooleanField(_l("The odometer reading is right even if it looks too high"))


class ScheduleForm(ApiForm):
    vehicle_id = SelectField(_l("Vehicle"), validators=[InputRequired()])
    name = StringField(_l("Service"), validators=[InputRequired()])
    every_km = IntegerField(
        _l("Every (km)"),
        validators=[Optional()],
        render_kw=NUMERIC,
        description=_l("Give km, days or both: whichever comes first."),
    )
    every_days = IntegerField(_l("Every (days)"), validators=[Optional()], render_kw=NUMERIC)


class RecordForm(ApiForm):
    vehicle_id = SelectField(_l("Vehicle"), validators=[InputRequired()])
    schedule_id = SelectField(_l("Schedule (optional)"), validators=[Optional()])
    performed_at = LocalDateTimeField(_l("Performed at (blank: now)"), validators=[Optional()])
    odometer_km = KmField(_l("Odometer (km)"), validators=[InputRequired()])
    cost = CommaDecimalField(_l("Cost (R$)"), validators=[InputRequired()])
    vendor = StringField(_l("Workshop (optional)"), validators=[Optional()])
    notes = TextAreaField(_l("Notes (optional)"), validators=[Optional()])
    confirm = BooleanField(_l("The odometer reading is right even if it looks too high"))


class ResolveForm(ApiForm):
    note = TextAreaField(_l("What was done"), validators=[InputRequired()])


class DocumentForm(ApiForm):
    vehicle_id = SelectField(
        _l("Vehicle"),
        validators=[Optional()],
        description=_l("A vehicle's document or a driver's: choose one of the two."),
    )
    driver_id = SelectField(_l("Driver"), validators=[Optional()])
    type = StringField(
        _l("Type"),
        validators=[InputRequired()],
        description=_l("For example: registration, insurance, inspection"),
    )
    number = StringField(_l("Number"), validators=[InputRequired()])
    valid_from = DateField(_l("Valid from (optional)"), validators=[Optional()])
    valid_until = DateField(_l("Valid until (blank: never expires)"), validators=[Optional()])


# --- Names of the rows' vehicles and drivers ----------------------------------------


class Fleet:
    """The fleet's vehicles and drivers: the selects' options and the names of a list's rows.

    The API has no "these ids" filter, so each list is fetched once per page (its
    largest page, retired vehicles included, since history names them), and an id a
    row names that is not among them is fetched on its own, once.
    """

    @cached_property
    def vehicles(self) -> dict[str, dict[str, Any]]:
        listing = api().get(
            "/fleet/vehicles", limit=MAX_LIMIT, sort="plate", include_retired="true"
        )
        return {vehicle["id"]: vehicle for vehicle in listing["items"]}

    @cached_property
    def drivers(self) -> dict[str, dict[str, Any]]:
        listing = api().get("/fleet/drivers", limit=MAX_LIMIT)
        return {driver["id"]: driver for driver in listing["items"]}

    def know(self, rows: Iterable[Mapping[str, Any]], *, drivers: bool = False) -> None:
        """Make sure every vehicle (and driver) the rows name can be named."""
        rows = list(rows)
        _fetch_missing(self.vehicles, "/fleet/vehicles/", (r.get("vehicle_id") for r in rows))
        if drivers:
            _fetch_missing(self.drivers, "/fleet/drivers/", (r.get("driver_id") for r in rows))

    def plate(self, vehicle_id: str | None) -> str:
        vehicle = self.vehicles.get(str(vehicle_id)) if vehicle_id else None
        return vehicle["plate"] if vehicle else "—"

    def driver_name(self, driver_id: str | None) -> str:
        driver = self.drivers.get(str(driver_id)) if driver_id else None
        return driver["full_name"] if driver else "—"

    def vehicle_choices(self, blank: Any) -> list[tuple[str, str]]:
        """Vehicles in service (a retired one takes no new records), by plate."""
        choices = [
            (v["id"], f"{v['plate']} · {v['make']} {v['model']}")
            for v in self.vehicles.values()
            if not v.get("retired_at")
        ]
        return [("", str(blank)), *choices]

    def driver_choices(self, blank: Any) -> list[tuple[str, str]]:
        drivers = sorted(self.drivers.values(), key=lambda d: d["full_name"].casefold())
        # The license number tells two drivers of the same name apart.
        choices = [(d["id"], f"{d['full_name']} · {d['license_number']}") for d in drivers]
        return [("", str(blank)), *choices]


def _fetch_missing(known: dict[str, dict[str, Any]], path: str, ids: Iterable[Any]) -> None:
    for wanted in {str(i) for i in ids if i} - known.keys():
        try:
            known[wanted] = api().get(path + wanted)
        except ApiError as error:
            if error.status != 404:
                raise


def fleet() -> Fleet:
    if "fleet" not in g:
        g.fleet = Fleet()
    found: Fleet = g.fleet
    return found


# --- Filters of the lists (GET forms) -----------------------------------------------


def _uuid_arg(name: str) -> str | None:
    """A filter by id; anything else is ignored rather than sent to the API."""
    value = request.args.get(name) or ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    return value if value in choices else None


def _flag_arg(name: str) -> str | None:
    """A checkbox filter: only ``true`` filters; unchecked means "all"."""
    return "true" if request.args.get(name) else None


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name) or "")
    except ValueError:
        return None


def _period(filters: dict[str, Any]) -> dict[str, str | None]:
    """The API's ``from``/``to`` (to: exclusive) for the days typed, on the fleet's clock."""
    first, last = filters.get("from"), filters.get("to")
    return {
        "from": _midnight(first).isoformat() if first else None,
        "to": _midnight(last + timedelta(days=1)).isoformat() if last else None,
    }


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=FLEET_ZONE)


def _csv(path: str, params: Mapping[str, Any]) -> Response:
    """One of the API's CSV lists streamed back as the user's download."""
    query = {name: value for name, value in params.items() if value is not None}
    upstream, chunks = api().stream(path, format="csv", limit=MAX_LIMIT, **query)
    headers = {name: upstream.headers[name] for name in CSV_HEADERS if name in upstream.headers}
    # The user's data: never kept by a shared cache.
    return Response(chunks, headers={**headers, "Cache-Control": "no-store"})


def _create(
    form: ApiForm, path: str, *, done: Any, back: str, title: Any, submit: Any
) -> tuple[str, int] | WerkzeugResponse:
    """A form of this area that creates one record (POST ``path``): made, the list it
    belongs to (``back``) says so (``done``); refused, the form again with the API's
    words beside its fields. Its fields in order, each with its hint and errors."""
    status = 200 if request.method == "GET" else 422
    if form.validate_on_submit():
        try:
            api().post(path, form.body())
        except ApiError as error:
            status = form.refused(error)
        else:
            flash(done, "success")
            return redirect(url_for(back))
    page_html = render_template(
        "operations/form.html", form=form, title=title, submit=submit, back=url_for(back)
    )
    return page_html, status


def _now() -> datetime:
    return datetime.now(FLEET_ZONE).replace(second=0, microsecond=0)


# --- Assignments --------------------------------------------------------------------


@bp.get("/assignments")
@page()
def assignments() -> str:
    filters = {
        "vehicle_id": _uuid_arg("vehicle_id"),
        "driver_id": _uuid_arg("driver_id"),
        "active": _flag_arg("active"),
        "cursor": request.args.get("cursor") or None,
    }
    listing = api().get("/fleet/assignments", limit=PAGE_SIZE, **filters)
    fleet().know(listing["items"], drivers=True)
    now = datetime.now(FLEET_ZONE)
    states = {item["id"]: _assignment_state(item, now) for item in listing["items"]}
    return render_template(
        "operations/assignments.html",
        listing=listing,
        filters=filters,
        states=states,
        fleet=fleet(),
    )


def _assignment_state(assignment: Mapping[str, Any], now: datetime) -> str:
    if assignment["ends_at"] and datetime.fromisoformat(assignment["ends_at"]) <= now:
        return "ended"
    if datetime.fromisoformat(assignment["starts_at"]) > now:
        return "upcoming"
    return "active"


@bp.route("/assignments/new", methods=["GET", "POST"])
@page()
def new_assignment() -> tuple[str, int] | WerkzeugResponse:
    form = AssignmentForm(data={"starts_at": _now()} if request.method == "GET" else None)
    form.vehicle_id.choices = fleet().vehicle_choices(_l("Choose a vehicle"))
    form.driver_id.choices = fleet().driver_choices(_l("Choose a driver"))
    return _create(
        form,
        "/fleet/assignments",
        done=_l("Assignment created."),
        back="operations.assignments",
        title=_l("Assign a vehicle"),
        submit=_l("Assign"),
    )


@bp.post("/assignments/<uuid:assignment_id>/end")
@page()
def end_assignment(assignment_id: Any) -> WerkzeugResponse:
    try:
        api().post(f"/fleet/assignments/{assignment_id}/end", {})
    except ApiError as error:
        if error.status not in FORM_REFUSALS:
            raise
        # A button has no form to show it on: said on the list it came from.
        flash(plain_words(error), "warning")
    else:
        flash(_l("Assignment ended."), "success")
    return redirect(url_for("operations.assignments"))


# --- Trips ---------------------------------------------------------------------------


def _trip_filters() -> dict[str, Any]:
    return {
        "vehicle_id": _uuid_arg("vehicle_id"),
        "driver_id": _uuid_arg("driver_id"),
        "from": _date_arg("from"),
        "to": _date_arg("to"),
        "open": _flag_arg("open"),
        "cursor": request.args.get("cursor") or None,
    }


@bp.get("/trips")
@page()
def trips() -> str:
    filters = _trip_filters()
    listing = api().get("/fleet/trips", limit=PAGE_SIZE, **{**filters, **_period(filters)})
    fleet().know(listing["items"], drivers=True)
    return render_template("operations/trips.html", listing=listing, filters=filters, fleet=fleet())


@bp.get("/trips/export.csv")
@page()
def trips_csv() -> Response:
    filters = _trip_filters()
    return _csv("/fleet/trips", {**filters, **_period(filters)})


# --- Fuel ----------------------------------------------------------------------------


def _fuel_filters() -> dict[str, Any]:
    return {
        "vehicle_id": _uuid_arg("vehicle_id"),
        "fuel_type": _choice_arg("fuel_type", FUEL_TYPES),
        "from": _date_arg("from"),
        "to": _date_arg("to"),
        "cursor": request.args.get("cursor") or None,
    }


@bp.get("/fuel")
@page()
def fuel_logs() -> str:
    filters = _fuel_filters()
    listing = api().get("/fleet/fuel-logs", limit=PAGE_SIZE, **{**filters, **_period(filters)})
    fleet().know(listing["items"])
    return render_template(
        "operations/fuel.html",
        listing=listing,
        filters=filters,
        fuel_types=FUEL_TYPES,
        fleet=fleet(),
    )


@bp.get("/fuel/export.csv")
@page()
def fuel_csv() -> Response:
    filters = _fuel_filters()
    return _csv("/fleet/fuel-logs", {**filters, **_period(filters)})


@bp.route("/fuel/new", methods=["GET", "POST"])
@page()
def new_fuel_log() -> tuple[str, int] | WerkzeugResponse:
    form = FuelLogForm()
    form.vehicle_id.choices = fleet().vehicle_choices(_l("Choose a vehicle"))
    return _create(
        form,
        "/fleet/fuel-logs",
        done=_l("Fuel logged."),
        back="operations.fuel_logs",
        title=_l("Log a fill"),
        submit=_l("Log fuel"),
    )


# --- Maintenance ----------------------------------------------------------------------


@bp.get("/maintenance")
@page()
def maintenance() -> str:
    filters = {
        "vehicle_id": _uuid_arg("vehicle_id"),
        "status": _choice_arg("status", DUE_STATUSES),
    }
    client = api()
    schedules = client.get(
        "/fleet/maintenance/schedules",
        limit=PAGE_SIZE,
        cursor=request.args.get("cursor") or None,
        **filters,
    )
    records = client.get(
        "/fleet/maintenance/records",
        limit=PAGE_SIZE,
        vehicle_id=filters["vehicle_id"],
        cursor=request.args.get("records_cursor") or None,
    )
    fleet().know([*schedules["items"], *records["items"]])
    # The records' services by name: those on this page of schedules, the others fetched.
    names = {s["id"]: s for s in schedules["items"]}
    _fetch_missing(
        names, "/fleet/maintenance/schedules/", (r["schedule_id"] for r in records["items"])
    )
    return render_template(
        "operations/maintenance.html",
        schedules=schedules,
        records=records,
        schedule_names={key: s["name"] for key, s in names.items()},
        filters=filters,
        statuses=DUE_STATUSES,
        fleet=fleet(),
    )


@bp.route("/maintenance/schedules/new", methods=["GET", "POST"])
@page()
def new_schedule() -> tuple[str, int] | WerkzeugResponse:
    form = ScheduleForm()
    form.vehicle_id.choices = fleet().vehicle_choices(_l("Choose a vehicle"))
    return _create(
        form,
        "/fleet/maintenance/schedules",
        done=_l("Maintenance schedule created."),
        back="operations.maintenance",
        title=_l("New maintenance schedule"),
        submit=_l("Create schedule"),
    )


@bp.route("/maintenance/records/new", methods=["GET", "POST"])
@page()
def new_record() -> tuple[str, int] | WerkzeugResponse:
    form = RecordForm()
    form.vehicle_id.choices = fleet().vehicle_choices(_l("Choose a vehicle"))
    schedules = api().get("/fleet/maintenance/schedules", limit=MAX_LIMIT)["items"]
    form.schedule_id.choices = [
        ("", str(_l("None (a repair)"))),
        *((s["id"], f"{fleet().plate(s['vehicle_id'])} · {s['name']}") for s in schedules),
    ]
    return _create(
        form,
        "/fleet/maintenance/records",
        done=_l("Maintenance recorded."),
        back="operations.maintenance",
        title=_l("Record maintenance"),
        submit=_l("Record"),
    )


# --- Inspections ----------------------------------------------------------------------


@bp.get("/inspections")
@page()
def inspections() -> str:
    filters = {
        "vehicle_id": _uuid_arg("vehicle_id"),
        "unresolved": _flag_arg("unresolved"),
        "cursor": request.args.get("cursor") or None,
    }
    listing = api().get("/fleet/inspections", limit=PAGE_SIZE, **filters)
    fleet().know(listing["items"])
    return render_template(
        "operations/inspections.html", listing=listing, filters=filters, fleet=fleet()
    )


@bp.route("/inspections/<uuid:inspection_id>", methods=["GET", "POST"])
@page()
def inspection(inspection_id: Any) -> tuple[str, int] | WerkzeugResponse:
    client = api()
    found = client.get(f"/fleet/inspections/{inspection_id}")
    form = ResolveForm()
    status = 200 if request.method == "GET" else 422
    if form.validate_on_submit():
        try:
            client.post(f"/fleet/inspections/{inspection_id}/resolve", form.body())
        except ApiError as error:
            status = form.refused(error)
        else:
            flash(_l("Inspection resolved."), "success")
            return redirect(url_for("operations.inspection", inspection_id=inspection_id))
    fleet().know([found])
    # The author is a user; a driver's name comes from their driver record, if any.
    authors = client.get("/fleet/drivers", user_id=found["author_user_id"], limit=1)["items"]
    return render_template(
        "operations/inspection.html",
        inspection=found,
        author=authors[0] if authors else None,
        form=form,
        fleet=fleet(),
    ), status


# --- Documents ------------------------------------------------------------------------


@bp.get("/documents")
@page()
def documents() -> str:
    filters = {
        "vehicle_id": _uuid_arg("vehicle_id"),
        "driver_id": _uuid_arg("driver_id"),
        "cursor": request.args.get("cursor") or None,
    }
    listing = api().get("/fleet/documents", limit=PAGE_SIZE, **filters)
    fleet().know(listing["items"], drivers=True)
    today = datetime.now(FLEET_ZONE).date()
    expired = {
        d["id"]
        for d in listing["items"]
        if d["valid_until"] and date.fromisoformat(d["valid_until"]) < today
    }
    return render_template(
        "operations/documents.html",
        listing=listing,
        filters=filters,
        expired=expired,
        fleet=fleet(),
    )


@bp.route("/documents/new", methods=["GET", "POST"])
@page()
def new_document() -> tuple[str, int] | WerkzeugResponse:
    form = DocumentForm()
    form.vehicle_id.choices = fleet().vehicle_choices(_l("None (a driver's document)"))
    form.driver_id.choices = fleet().driver_choices(_l("None (a vehicle's document)"))
    return _create(
        form,
        "/fleet/documents",
        done=_l("Document registered."),
        back="operations.documents",
        title=_l("Register a document"),
        submit=_l("Register"),
    )
