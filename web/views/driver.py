"""The driver's pages, made for a phone: my vehicle today, check out and in, fuel, inspection.

Everything is the driver's own view of the API: the vehicle assigned to them now
(``GET /fleet/assignments?active=true``), their open trip (``GET /fleet/trips?open=true``)
and the records they make on it. A user with the driver role but no driver record,
or with no vehicle assigned, is told so in plain words rather than shown an error.

Forms with photos upload them to the media API first and cite their ids in the record;
a refused record deletes them again (web/uploads.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, MultipleFileField
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional

from shared.roles import Role
from web.api import ApiError
from web.forms import FORM_REFUSALS, ApiForm, CommaDecimalField, KmField
from web.i18n import LABELS, as_number
from web.session import api, page
from web.uploads import UploadRefused, Uploads

bp = Blueprint("driver", __name__, url_prefix="/driver")

DRIVERS = frozenset({Role.DRIVER})
PAGE_SIZE = 20
# The API's refusal of an odometer reading too far above the last: the driver may confirm it.
IMPLAUSIBLE_JUMP = "implausible_odometer_jump"
SEVERITIES = ("low", "medium", "high", "critical")
PHOTO_REFUSED = _l("A photo could not be kept: see below.")
ATTENTION = _l("Some items need your attention: see below.")

# The standard pre-trip checklist. The item is recorded as the driver read it.
CHECKLIST = (
    _l("Tyres (pressure, wear, spare)"),
    _l("Lights and indicators"),
    _l("Brakes"),
    _l("Oil and coolant levels"),
    _l("Windscreen and wipers"),
    _l("Mirrors"),
    _l("Seat belts"),
    _l("Documents on board"),
    _l("Bodywork (dents, scratches)"),
)


# --- What the driver has today ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Today:
    """The signed-in driver's record, vehicle and open trip, as the API shows them."""

    driver: dict[str, Any] | None
    vehicle: dict[str, Any] | None
    trip: dict[str, Any] | None

    @property
    def trip_on_vehicle(self) -> dict[str, Any] | None:
        """The open trip, when it is on today's vehicle (an inspection belongs to it)."""
        if self.trip and self.vehicle and self.trip["vehicle_id"] == self.vehicle["id"]:
            return self.trip
        return None


def _first(path: str, **params: Any) -> dict[str, Any] | None:
    items: list[dict[str, Any]] = api().get(path, limit=1, **params)["items"]
    return items[0] if items else None


def _vehicle(vehicle_id: str) -> dict[str, Any] | None:
    """The vehicle, or None when the driver may no longer see it (no longer assigned)."""
    try:
        vehicle: dict[str, Any] = api().get(f"/fleet/vehicles/{vehicle_id}")
    except ApiError as error:
        if error.status != 404:
            raise
        return None
    return vehicle


def today_of_driver() -> Today:
    # A driver sees only their own record, assignments and trips: the first is theirs.
    driver = _first("/fleet/drivers")
    if driver is None:
        return Today(None, None, None)
    trip = _first("/fleet/trips", open="true")
    # On a trip, the vehicle is the trip's; otherwise the one assigned now (one at a
    # time: assignments of a driver never overlap).
    assignment = None if trip else _first("/fleet/assignments", active="true")
    vehicle_id = trip["vehicle_id"] if trip else assignment and assignment["vehicle_id"]
    vehicle = _vehicle(vehicle_id) if vehicle_id else None
    return Today(driver, vehicle, trip)


def _no_vehicle(today: Today) -> Response:
    """Back to today's page, which says why there is nothing to do."""
    if today.driver is None:
        flash(_l("Your user has no driver record yet; ask your manager."), "warning")
    else:
        flash(_l("You have no vehicle assigned today; ask your manager."), "warning")
    return redirect(url_for("driver.today"))


# --- Forms (field names are the API body's) ---------------------------------------------


class ConfirmForm(ApiForm):
    """A form with an odometer reading the API may find implausible (a typo?)."""

    confirm = BooleanField(_l("Yes, the reading is right"))


class CheckOutForm(ConfirmForm):
    odometer_km = KmField(_l("Odometer now (km)"), validators=[InputRequired()])
    purpose = StringField(_l("Purpose of the trip"), validators=[InputRequired()])


class CheckInForm(ConfirmForm):
    odometer_km = KmField(_l("Odometer now (km)"), validators=[InputRequired()])


class FuelForm(ConfirmForm):
    fuel_type = SelectField(_l("Fuel"), validators=[InputRequired()])
    liters = CommaDecimalField(_l("Litres"), validators=[InputRequired()])
    total_cost = CommaDecimalField(_l("Total paid (R$)"), validators=[InputRequired()])
    odometer_km = KmField(_l("Odometer (km)"), validators=[InputRequired()])
    full_tank = BooleanField(_l("I filled the tank up"), default=True)
    missed_previous = BooleanField(_l("I did not log the previous fill"))
    station = StringField(_l("Station"), validators=[Optional()])
    receipt = FileField(_l("Photo of the receipt"))


class CheckForm(Form):
    """One item of the checklist (a sub-form: the page's CSRF token covers it)."""

    ok = RadioField(
        _l("Condition"),
        choices=[("yes", _l("OK")), ("no", _l("Not OK"))],
        validators=[InputRequired(message=_l("Say whether it is OK."))],
    )
    severity = SelectField(
        _l("How serious (if not OK)"),
        choices=[("", _l("Choose…")), *((s, LABELS[s]) for s in SEVERITIES)],
        validators=[Optional()],
    )
    note = TextAreaField(_l("What is wrong (if not OK)"), validators=[Optional()])
    photos = MultipleFileField(_l("Photos"))


class InspectionForm(ApiForm):
    checks = FieldList(FormField(CheckForm), min_entries=len(CHECKLIST), max_entries=len(CHECKLIST))


# --- Showing the API's refusals -----------------------------------------------------------


def _show_upload(form: ApiForm, inputs: Iterable[Field], refused: UploadRefused) -> int:
    """A refused photo's reason beside the file input (one of ``inputs``) it was chosen
    in, and a word at the top; the status for the page. A refusal the driver cannot fix
    by another photo is raised again, for the error page."""
    if not refused.user_fixable:
        raise refused.error from None
    for field in inputs:
        if field.name == refused.field:
            field.errors = [*field.errors, refused.message]
            break
    form.form_errors.append(str(PHOTO_REFUSED))
    return refused.error.status


def _reading_page(
    template: str, form: ConfirmForm, today: Today, error: ApiError | None
) -> str | tuple[str, int]:
    """A form with an odometer reading, shown (again: with the API's refusal and its
    status). Once the API found the reading's jump implausible it offers to confirm it,
    and keeps offering, so that a corrected reading can still be confirmed."""
    asks_confirm = bool(form.confirm.data) or (error is not None and error.code == IMPLAUSIBLE_JUMP)
    page_html = render_template(template, form=form, today=today, asks_confirm=asks_confirm)
    return (page_html, error.status) if error else page_html


# --- Pages --------------------------------------------------------------------------


@bp.get("")
@page(DRIVERS)
def today() -> str:
    return render_template("driver/today.html", today=today_of_driver())


@bp.route("/check-out", methods=["GET", "POST"])
@page(DRIVERS)
def check_out() -> str | Response | tuple[str, int]:
    today = today_of_driver()
    if today.vehicle is None:
        return _no_vehicle(today)
    vehicle = today.vehicle
    form = CheckOutForm(data={"odometer_km": vehicle["odometer_km"]})
    error: ApiError | None = None
    if form.validate_on_submit():
        try:
            trip = api().post("/fleet/trips", {**form.body(), "vehicle_id": vehicle["id"]})
        except ApiError as refusal:
            form.refused(refusal)
            error = refusal
        else:
            flash(
                _l(
                    "Checked out %(plate)s at %(km)s km. Have a safe trip.",
                    plate=vehicle["plate"],
                    km=as_number(trip["start_km"]),
                ),
                "success",
            )
            return redirect(url_for("driver.today"))
    return _reading_page("driver/check_out.html", form, today, error)


@bp.route("/check-in", methods=["GET", "POST"])
@page(DRIVERS)
def check_in() -> str | Response | tuple[str, int]:
    today = today_of_driver()
    if today.trip is None:
        flash(_l("You are not out on a trip: there is nothing to check in."), "warning")
        return redirect(url_for("driver.today"))
    trip = today.trip
    form = CheckInForm()
    error: ApiError | None = None
    if form.validate_on_submit():
        try:
            ended = api().post(f"/fleet/trips/{trip['id']}/check-in", form.body())
        except ApiError as refusal:
            form.refused(refusal)
            error = refusal
        else:
            flash(
                _l(
                    "Checked in after %(km)s km. Thank you.",
                    km=as_number(ended["distance_km"]),
                ),
                "success",
            )
            return redirect(url_for("driver.today"))
    return _reading_page("driver/check_in.html", form, today, error)


@bp.route("/fuel", methods=["GET", "POST"])
@page(DRIVERS)
def fuel() -> str | Response | tuple[str, int]:
    today = today_of_driver()
    if today.vehicle is None:
        return _no_vehicle(today)
    vehicle = today.vehicle
    form = FuelForm()
    form.fuel_type.choices = [(f, LABELS.get(f, f)) for f in vehicle["fuel_types"]]
    if request.method == "GET" and vehicle["fuel_types"]:
        form.fuel_type.data = vehicle["fuel_types"][0]
    error: ApiError | None = None
    if form.validate_on_submit():
        try:
            with Uploads() as uploads:
                receipts = uploads.add(form.receipt.name, form.receipt.data, kind="receipt")
                body = {
                    **form.body(),
                    "vehicle_id": vehicle["id"],
                    "receipt_media_id": receipts[0] if receipts else None,
                }
                api().post("/fleet/fuel-logs", body)
        except UploadRefused as refused:
            _show_upload(form, [form.receipt], refused)
            error = refused.error
        except ApiError as refusal:
            form.refused(refusal)
            error = refusal
        else:
            flash(_l("Fuel logged. Thank you."), "success")
            return redirect(url_for("driver.today"))
    return _reading_page("driver/fuel.html", form, today, error)


@bp.route("/inspection", methods=["GET", "POST"])
@page(DRIVERS)
def inspection() -> str | Response | tuple[str, int]:
    today = today_of_driver()
    if today.vehicle is None:
        return _no_vehicle(today)
    vehicle = today.vehicle
    form = InspectionForm()
    status: int | None = None
    if form.validate_on_submit():
        trip = today.trip_on_vehicle
        try:
            with Uploads() as uploads:
                items = [
                    _checked(str(label), check.form, uploads)
                    for label, check in zip(CHECKLIST, form.checks, strict=True)
                ]
                body = {
                    "vehicle_id": vehicle["id"],
                    "trip_id": trip["id"] if trip else None,
                    "items": items,
                }
                recorded = api().post("/fleet/inspections", body)
        except UploadRefused as refused:
            status = _show_upload(form, (check.form.photos for check in form.checks), refused)
        except ApiError as error:
            if error.status not in FORM_REFUSALS:
                raise
            _show_inspection_refusal(form, error)
            status = error.status
        else:
            return redirect(url_for("driver.inspection_result", inspection_id=recorded["id"]))
    elif request.method == "POST":
        form.form_errors.append(str(ATTENTION))
        status = 422
    page_html = render_template(
        "driver/inspection.html",
        form=form,
        today=today,
        checks=list(zip(CHECKLIST, form.checks, strict=True)),
    )
    return (page_html, status) if status else page_html


def _checked(label: str, check: CheckForm, uploads: Uploads) -> dict[str, Any]:
    """One item of the API's checklist, its photos uploaded."""
    ok = check.ok.data == "yes"
    note = (check.note.data or "").strip()
    return {
        "item": label,
        "ok": ok,
        # A severity means something only for a failed item.
        "severity": None if ok else (check.severity.data or None),
        "note": note or None,
        "media_ids": uploads.add(check.photos.name, check.photos.data, kind="photo"),
    }


def _show_inspection_refusal(form: InspectionForm, error: ApiError) -> None:
    """The API names a failed item by its position: its errors go beside that item."""
    details = dict(error.details or {})
    per_item = details.pop("items", None)
    placed = False
    if isinstance(per_item, Mapping):
        for position, problems in per_item.items():
            if not (str(position).isdigit() and int(position) < len(form.checks)):
                continue
            check = form.checks[int(position)].form
            for name, messages in (problems or {}).items() if isinstance(problems, Mapping) else ():
                field = check._fields.get(name)
                if field is not None:
                    texts = messages if isinstance(messages, list) else [messages]
                    field.errors = [*field.errors, *(str(text) for text in texts)]
                    placed = True
    if placed:
        form.form_errors.append(str(ATTENTION))
    if details or not placed or error.status != 422:
        form.show(dataclasses.replace(error, details=details))


@bp.get("/inspections/<uuid:inspection_id>")
@page(DRIVERS)
def inspection_result(inspection_id: Any) -> str:
    recorded = api().get(f"/fleet/inspections/{inspection_id}")
    # The API decides what a failure does to the vehicle: its status now says.
    vehicle = _vehicle(recorded["vehicle_id"])
    return render_template("driver/inspection_result.html", inspection=recorded, vehicle=vehicle)


@bp.get("/trips")
@page(DRIVERS)
def trips() -> str:
    cursor = request.args.get("cursor") or None
    listing = api().get("/fleet/trips", limit=PAGE_SIZE, cursor=cursor)
    return render_template("driver/trips.html", listing=listing)
