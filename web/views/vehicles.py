"""Vehicles: the list (search, filters, pages), a vehicle's page, registering and editing."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import (
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    widgets,
)
from wtforms.validators import InputRequired, Optional

from web.api import ApiError
from web.charts import Point, line_chart
from web.forms import ApiForm
from web.i18n import LABELS, as_date, as_number
from web.session import api, page

bp = Blueprint("vehicles", __name__, url_prefix="/vehicles")

FUEL_TYPES = ("gasoline", "ethanol", "diesel", "cng", "electric")
STATUSES = ("active", "workshop", "inactive", "sold")
PAGE_SIZE = 25


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class VehicleForm(ApiForm):
    plate = StringField(_l("Plate"), validators=[InputRequired()])
    vin = StringField(_l("VIN (chassis)"), validators=[Optional()])
    make = StringField(_l("Make"), validators=[InputRequired()])
    model = StringField(_l("Model"), validators=[InputRequired()])
    year = IntegerField(_l("Year"), validators=[InputRequired()])
    fuel_types = CheckboxesField(
        _l("Fuels"), choices=[(f, LABELS[f]) for f in FUEL_TYPES], validators=[InputRequired()]
    )
    tank_capacity_l = DecimalField(_l("Tank (litres)"), validators=[Optional()], places=None)


class VehicleEditForm(VehicleForm):
    status = SelectField(_l("Status"), choices=[(s, LABELS[s]) for s in STATUSES])


@bp.get("")
@page()
def index() -> str:
    filters = {
        "q": request.args.get("q") or None,
        "status": request.args.get("status") or None,
        "cursor": request.args.get("cursor") or None,
    }
    listing = api().get("/fleet/vehicles", limit=PAGE_SIZE, sort="plate", **filters)
    return render_template(
        "vehicles/index.html", listing=listing, filters=filters, statuses=STATUSES
    )


@bp.route("/new", methods=["GET", "POST"])
@page()
def new() -> str | Response | tuple[str, int]:
    form = VehicleForm()
    if form.validate_on_submit():
        try:
            vehicle = api().post("/fleet/vehicles", form.body())
        except ApiError as error:
            status = form.refused(error)
            return render_template("vehicles/form.html", form=form, vehicle=None), status
        else:
            flash(_l("Vehicle %(plate)s registered.", plate=vehicle["plate"]), "success")
            return redirect(url_for("vehicles.show", vehicle_id=vehicle["id"]))
    return render_template("vehicles/form.html", form=form, vehicle=None)


@bp.route("/<uuid:vehicle_id>/edit", methods=["GET", "POST"])
@page()
def edit(vehicle_id: Any) -> str | Response | tuple[str, int]:
    vehicle = api().get(f"/fleet/vehicles/{vehicle_id}")
    form = VehicleEditForm(data=vehicle)
    if form.validate_on_submit():
        try:
            api().patch(f"/fleet/vehicles/{vehicle_id}", form.body(keep_blank=True))
        except ApiError as error:
            status = form.refused(error)
            return render_template("vehicles/form.html", form=form, vehicle=vehicle), status
        else:
            flash(_l("Vehicle updated."), "success")
            return redirect(url_for("vehicles.show", vehicle_id=vehicle_id))
    return render_template("vehicles/form.html", form=form, vehicle=vehicle)


@bp.post("/<uuid:vehicle_id>/retire")
@page()
def retire(vehicle_id: Any) -> Response:
    api().delete(f"/fleet/vehicles/{vehicle_id}")
    flash(_l("Vehicle retired; its history is kept."), "success")
    return redirect(url_for("vehicles.index"))


@bp.get("/<uuid:vehicle_id>")
@page()
def show(vehicle_id: Any) -> str:
    # One call for the whole page (the API's overview of a vehicle).
    overview = api().get(f"/fleet/vehicles/{vehicle_id}/overview")
    # Oldest first, as a chart reads.
    points = [Point(as_date(r["read_at"]), r["km"]) for r in reversed(overview["odometer"])]
    chart = (
        line_chart(str(_l("Odometer (km)")), points, lambda km: as_number(km))
        if len(points) > 1
        else None
    )
    return render_template("vehicles/show.html", odometer_chart=chart, **overview)
