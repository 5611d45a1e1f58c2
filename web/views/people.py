"""People: drivers (their licenses) for managers, user accounts for admins.

A driver record (fleet) names a user account (auth). An admin registers a driver in
one form: the console creates the account, then the record. A manager, who may not
create accounts, picks an existing driver account that has no record yet (the API
lets managers read the drivers' accounts for exactly this).

A generated one-time password is shown once: it is put in the session only between
the redirect and the page that shows it, which pops it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import DateField, EmailField, SelectField, StringField
from wtforms.validators import InputRequired, Optional

from shared.roles import Role
from web.api import ApiError
from web.forms import ApiForm
from web.i18n import LABELS, TIME_ZONE
from web.session import api, current_user, page

bp = Blueprint("people", __name__, url_prefix="")

ADMINS_ONLY = frozenset({Role.ADMIN})
PAGE_SIZE = 25
# The API's license categories (DriverCreateIn's enum).
LICENSE_CATEGORIES = ("A", "B", "C", "D", "E", "AB", "AC", "AD", "AE")
LICENSE_FIELDS = ("license_number", "license_category", "license_expires_on")
ROLES = tuple(role.value for role in Role)
# A license this close to its expiry is flagged on the list.
EXPIRY_WARNING = timedelta(days=30)
# Looking for driver accounts without a record: the API's largest page, a few times
# over (2 000 accounts and records); a search narrows it for bigger fleets. At most a
# page of them is offered in the form's select.
LOOKUP_PAGE = 200
LOOKUP_PAGES = 10
# The session key of a one-time password on its way to the page that shows it.
ONE_TIME = "one_time_password"


def _today() -> date:
    return datetime.now(ZoneInfo(TIME_ZONE)).date()


def license_state(expires_on: str | None, today: date) -> str | None:
    """``expired``, ``expiring`` (within 30 days) or None: said in words on the pages."""
    if not expires_on:
        return None
    expiry = date.fromisoformat(expires_on)
    if expiry < today:
        return "expired"
    if expiry <= today + EXPIRY_WARNING:
        return "expiring"
    return None


def _keep_one_time(user: dict[str, Any]) -> None:
    """Carry the API's one-time password to the next page only (see _pop_one_time)."""
    if user.get("one_time_password"):
        session[ONE_TIME] = {"username": user["username"], "password": user["one_time_password"]}


def _pop_one_time() -> dict[str, str] | None:
    secret: dict[str, str] | None = session.pop(ONE_TIME, None)
    return secret


class LicenseForm(ApiForm):
    license_number = StringField(_l("License number (CNH)"), validators=[InputRequired()])
    license_category = SelectField(
        _l("Category"), choices=[(c, c) for c in LICENSE_CATEGORIES], validators=[InputRequired()]
    )
    license_expires_on = DateField(_l("License valid until"), validators=[InputRequired()])


class DriverForm(LicenseForm):
    """A driver record for an existing account (a manager's form; an admin's too)."""

    user_id = SelectField(_l("User account"), validators=[InputRequired()])
    full_name = StringField(_l("Full name"), validators=[Optional()])


class DriverEditForm(LicenseForm):
    full_name = StringField(_l("Full name"), validators=[InputRequired()])


class RegisterDriverForm(LicenseForm):
    """An admin's form: the user account and the driver record in one."""

    username = StringField(_l("Username"), validators=[InputRequired()])
    full_name = StringField(_l("Full name"), validators=[InputRequired()])
    email = EmailField(_l("Email"), validators=[Optional()])


class UserForm(ApiForm):
    username = StringField(_l("Username"), validators=[InputRequired()])
    full_name = StringField(_l("Full name"), validators=[InputRequired()])
    email = EmailField(_l("Email"), validators=[Optional()])
    role = SelectField(_l("Role"), choices=[(r, LABELS[r]) for r in ROLES])


class UserEditForm(ApiForm):
    full_name = StringField(_l("Full name"), validators=[InputRequired()])
    email = EmailField(_l("Email"), validators=[Optional()])
    role = SelectField(_l("Role"), choices=[(r, LABELS[r]) for r in ROLES])


class ConfirmForm(ApiForm):
    """A button and its CSRF token: what a confirmation page posts."""


# Drivers -----------------------------------------------------------------------------


@bp.get("/drivers")
@page()
def drivers() -> str:
    filters = {"q": request.args.get("q") or None, "cursor": request.args.get("cursor") or None}
    listing = api().get("/fleet/drivers", limit=PAGE_SIZE, **filters)
    today = _today()
    states = {d["id"]: license_state(d["license_expires_on"], today) for d in listing["items"]}
    return render_template("people/drivers.html", listing=listing, filters=filters, states=states)


@bp.get("/drivers/<uuid:driver_id>")
@page()
def driver(driver_id: Any) -> str:
    client = api()
    record = client.get(f"/fleet/drivers/{driver_id}")
    try:
        account = client.get(f"/auth/users/{record['user_id']}")
    except ApiError as error:
        # A manager reads drivers' accounts only: one whose role changed since is not shown.
        if error.status != 404:
            raise
        account = None
    assignments = client.get("/fleet/assignments", driver_id=driver_id, active="true", limit=10)
    # Usually one: each named by its vehicle's plate.
    vehicles = {
        a["vehicle_id"]: client.get(f"/fleet/vehicles/{a['vehicle_id']}")
        for a in assignments["items"]
    }
    return render_template(
        "people/driver.html",
        driver=record,
        account=account,
        state=license_state(record["license_expires_on"], _today()),
        assignments=assignments["items"],
        vehicles=vehicles,
        one_time=_pop_one_time(),
    )


def _all_pages(path: str, **params: Any) -> tuple[list[dict[str, Any]], bool]:
    """Every item of a list, page after page up to LOOKUP_PAGES; and whether more remain."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(LOOKUP_PAGES):
        listing = api().get(path, limit=LOOKUP_PAGE, cursor=cursor, **params)
        items += listing["items"]
        cursor = listing["next_cursor"]
        if not cursor:
            return items, False
    return items, True


def _accounts_without_record(q: str | None) -> tuple[list[dict[str, Any]], bool]:
    """Active driver accounts with no driver record yet (matching ``q``), the newest
    first (the one just created is the likely choice); and whether some were left out
    (the page then says to search)."""
    records, more_records = _all_pages("/fleet/drivers")
    taken = {record["user_id"] for record in records}
    accounts, more_accounts = _all_pages("/auth/users", role="driver", is_active="true", q=q)
    free = [account for account in reversed(accounts) if account["id"] not in taken]
    return free[:LOOKUP_PAGE], more_records or more_accounts or len(free) > LOOKUP_PAGE


def _driver_form(chosen: str | None, q: str | None) -> tuple[DriverForm, bool]:
    """The driver-record form, its select filled with the accounts one may choose."""
    accounts, truncated = _accounts_without_record(q)
    if chosen and chosen not in {a["id"] for a in accounts}:
        # Named by the link that led here (a just-created account): offer it even if
        # the search above did not reach it.
        try:
            accounts.insert(0, api().get(f"/auth/users/{chosen}"))
        except ApiError as error:
            if error.status != 404:
                raise
    form = DriverForm()
    form.user_id.choices = [("", str(_l("Choose an account")))] + [
        (a["id"], f"{a['full_name']} ({a['username']})") for a in accounts
    ]
    if chosen and not form.is_submitted():
        form.user_id.data = chosen
    return form, truncated


@bp.route("/drivers/new", methods=["GET", "POST"])
@page()
def new_driver() -> str | Response | tuple[str, int]:
    q = request.args.get("q") or None
    form, truncated = _driver_form(request.args.get("user_id"), q)
    if form.validate_on_submit():
        try:
            record = api().post("/fleet/drivers", form.body())
        except ApiError as error:
            form.refused(error)
            return _driver_form_page(form, truncated, q), error.status
        flash(_l("Driver %(name)s registered.", name=record["full_name"]), "success")
        return redirect(url_for("people.driver", driver_id=record["id"]))
    status = 422 if form.errors else 200
    return _driver_form_page(form, truncated, q), status


def _driver_form_page(
    form: DriverForm,
    truncated: bool,
    q: str | None,
    *,
    created: dict[str, Any] | None = None,
) -> str:
    return render_template(
        "people/driver_new.html", form=form, truncated=truncated, q=q, created=created
    )


@bp.route("/drivers/register", methods=["GET", "POST"])
@page(ADMINS_ONLY)
def register_driver() -> str | Response | tuple[str, int]:
    form = RegisterDriverForm()
    if form.validate_on_submit():
        body = form.body()
        account = {name: body.get(name) for name in ("username", "full_name", "email")}
        try:
            user = api().post("/auth/users", {**account, "role": "driver"})
        except ApiError as error:
            form.refused(error)
            return render_template("people/driver_register.html", form=form), error.status
        license = {name: body.get(name) for name in LICENSE_FIELDS}
        try:
            record = api().post("/fleet/drivers", {"user_id": user["id"], **license})
        except ApiError as error:
            return _record_failed(user, error)
        _keep_one_time(user)
        flash(_l("Driver %(name)s registered.", name=record["full_name"]), "success")
        return redirect(url_for("people.driver", driver_id=record["id"]))
    status = 422 if form.errors else 200
    return render_template("people/driver_register.html", form=form), status


def _record_failed(user: dict[str, Any], error: ApiError) -> tuple[str, int]:
    """The account exists but its driver record was refused: the driver-record form,
    the account chosen and the license fields as sent, the refusal beside them, and
    the one-time password shown here (this page is its only showing)."""
    form, truncated = _driver_form(user["id"], None)
    form.user_id.data = user["id"]
    form.full_name.data = None
    form.show(error)
    status = error.status if error.status in (409, 422, 503) else 502
    return _driver_form_page(form, truncated, None, created=user), status


@bp.route("/drivers/<uuid:driver_id>/edit", methods=["GET", "POST"])
@page()
def edit_driver(driver_id: Any) -> str | Response | tuple[str, int]:
    record = api().get(f"/fleet/drivers/{driver_id}")
    data = {**record, "license_expires_on": date.fromisoformat(record["license_expires_on"])}
    form = DriverEditForm(data=data)
    if form.validate_on_submit():
        try:
            api().patch(f"/fleet/drivers/{driver_id}", form.body())
        except ApiError as error:
            form.refused(error)
            return render_template("people/driver_edit.html", form=form, driver=record), (
                error.status
            )
        flash(_l("Driver updated."), "success")
        return redirect(url_for("people.driver", driver_id=driver_id))
    status = 422 if form.errors else 200
    return render_template("people/driver_edit.html", form=form, driver=record), status


# Users (admins) ----------------------------------------------------------------------


@bp.get("/users")
@page(ADMINS_ONLY)
def users() -> str:
    filters = {
        "q": request.args.get("q") or None,
        "role": request.args.get("role") if request.args.get("role") in ROLES else None,
        "is_active": request.args.get("is_active")
        if request.args.get("is_active") in ("true", "false")
        else None,
        "cursor": request.args.get("cursor") or None,
    }
    listing = api().get("/auth/users", limit=PAGE_SIZE, **filters)
    return render_template("people/users.html", listing=listing, filters=filters, roles=ROLES)


@bp.route("/users/new", methods=["GET", "POST"])
@page(ADMINS_ONLY)
def new_user() -> str | Response | tuple[str, int]:
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = api().post("/auth/users", form.body())
        except ApiError as error:
            form.refused(error)
            return render_template("people/user_new.html", form=form), error.status
        _keep_one_time(user)
        flash(_l("User %(username)s created.", username=user["username"]), "success")
        return redirect(url_for("people.user", user_id=user["id"]))
    status = 422 if form.errors else 200
    return render_template("people/user_new.html", form=form), status


@bp.route("/users/<uuid:user_id>", methods=["GET", "POST"])
@page(ADMINS_ONLY)
def user(user_id: Any) -> str | Response | tuple[str, int]:
    account = api().get(f"/auth/users/{user_id}")
    form = UserEditForm(data=account)
    status = 200
    if form.validate_on_submit():
        try:
            api().patch(f"/auth/users/{user_id}", form.body(keep_blank=True))
        except ApiError as error:
            form.refused(error)
            status = error.status
        else:
            flash(_l("User updated."), "success")
            return redirect(url_for("people.user", user_id=user_id))
    elif form.errors:
        status = 422
    records = (
        api().get("/fleet/drivers", user_id=user_id, limit=1)["items"]
        if account["role"] == "driver"
        else []
    )
    return render_template(
        "people/user.html",
        account=account,
        form=form,
        driver=records[0] if records else None,
        is_self=account["id"] == current_user().id,
        one_time=_pop_one_time(),
    ), status


@bp.route("/users/<uuid:user_id>/deactivate", methods=["GET", "POST"])
@page(ADMINS_ONLY)
def deactivate_user(user_id: Any) -> str | Response | tuple[str, int]:
    account = api().get(f"/auth/users/{user_id}")
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            api().delete(f"/auth/users/{user_id}")
        except ApiError as error:
            form.refused(error)
            status = error.status
        else:
            username = account["username"]
            flash(
                _l("%(username)s is deactivated; their history is kept.", username=username),
                "success",
            )
            return redirect(url_for("people.user", user_id=user_id))
    return render_template("people/user_deactivate.html", account=account, form=form), status


@bp.post("/users/<uuid:user_id>/reactivate")
@page(ADMINS_ONLY)
def reactivate_user(user_id: Any) -> Response:
    api().patch(f"/auth/users/{user_id}", {"is_active": True})
    flash(_l("User reactivated."), "success")
    return redirect(url_for("people.user", user_id=user_id))
