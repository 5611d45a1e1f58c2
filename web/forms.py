"""Forms of the console: what a page posts, and the API's refusals shown beside the fields.

Rules live in the API, not here: a form only parses what the browser sends (numbers,
dates) and turns it into the API's body; whatever the API refuses comes back as
per-field details (``{"plate": ["..."]}``), which :meth:`ApiForm.show` places next to the
field of the same name, and conflicts (409) as a code, which :data:`CONFLICTS` says in
plain words at the top of the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateTimeLocalField, DecimalField, Field, IntegerField
from wtforms.widgets import TextInput

from web.api import ApiError
from web.i18n import FLEET_ZONE, api_message, as_datetime, as_number

# The API's conflict and refusal codes, said the way a person would.
CONFLICTS = {
    "assignment_overlap": _l("This vehicle or driver is already assigned in that period."),
    "odometer_not_monotonic": _l(
        "The odometer cannot go back: the reading is below an earlier one (or above a later one)."
    ),
    "trip_already_open": _l("The vehicle or the driver is already out on a trip."),
    "vehicle_in_use": _l("The vehicle is out on a trip; check it in first."),
    "vehicle_unavailable": _l("The vehicle is not available (in the workshop or inactive)."),
    "vehicle_retired": _l("The vehicle is retired."),
    "trip_already_closed": _l("This trip has already been checked in."),
    "assignment_ended": _l("This assignment has already ended."),
    "plate_taken": _l("Another vehicle in service has this plate."),
    "vin_taken": _l("Another vehicle in service has this VIN."),
    "driver_exists": _l("This user already has a driver record."),
    "license_number_taken": _l("Another driver has this license number."),
    "username_taken": _l("That username is already in use."),
    "driver_inactive": _l("The driver's user account is deactivated."),
    "last_admin": _l("The last active admin cannot be demoted or deactivated."),
    "inspection_already_resolved": _l("This inspection is already resolved."),
    "inspection_passed": _l("Every item passed: there is nothing to resolve."),
    "invalid_credentials": _l("Wrong username or password."),
    "invalid_current_password": _l("The current password is not correct."),
    "cannot_change_own_access": _l("You cannot change your own role or status."),
    "driver_record_required": _l("Your user has no driver record yet; ask your manager."),
    "rate_limited": _l("Too many attempts. Wait a moment and try again."),
    "payload_too_large": _l("The file is too large."),
    "file_too_large": _l("The file is too large."),
    "content_type_mismatch": _l("The file is not of the type its name says."),
    "quota_exceeded": _l("The photo storage is full; tell your manager."),
    "implausible_odometer_jump": _l(
        "The odometer reading is far above the last one: check it for a typo, or confirm it."
    ),
    "unsupported_media_type": _l("That file is not a photo or PDF we can keep."),
    "insufficient_storage": _l("The photo storage is full; tell your manager."),
    "image_unreadable": _l("The photo could not be read."),
    "api_unreachable": _l("Frota is not answering right now. Try again in a moment."),
}


# The refusals a form shows (wrong credentials at sign-in — elsewhere a refused token
# signs the session out before this —, validation, conflicts, a rule of the user's
# role or state, too many attempts); any other is an error page of its own.
FORM_REFUSALS = frozenset({401, 403, 409, 422, 429})
# The body field of an odometer reading, and the readings the API names around a refused one.
ODOMETER = "odometer_km"
NEIGHBOURS = {
    "previous": _l("The reading before is %(km)s km (%(when)s)."),
    "next": _l("A later reading is %(km)s km (%(when)s)."),
}


def plain_words(error: ApiError) -> str:
    return str(CONFLICTS.get(error.code) or api_message(error.message))


def _value(field: Field) -> Any:
    value = field.data
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class ApiForm(FlaskForm):
    """A form whose fields are named as the API's body fields."""

    # Fields that are not part of the API's body (files, confirmations).
    not_sent: tuple[str, ...] = ()

    def body(self, *, keep_blank: bool = False) -> dict[str, Any]:
        """The API body: blank text is absent (or null with ``keep_blank``, for PATCH)."""
        body = {}
        for field in self:
            if field.name == "csrf_token" or field.name in self.not_sent:
                continue
            if isinstance(field, FileField):
                continue
            value = _value(field)
            if value is not None or keep_blank:
                body[field.name] = value
        return body

    def refused(self, error: ApiError) -> int:
        """Show a refusal the user can act on beside the form and return its status for
        the page; any other refusal is raised again, for the error page."""
        if error.status not in FORM_REFUSALS:
            raise error
        self.show(error)
        return error.status

    def show(self, error: ApiError) -> None:
        """Put the API's refusal beside the fields it names, the rest at the top.

        Only a 422's details are messages about fields; other refusals are said in the
        code's plain words. The readings around a refused odometer reading (their ids,
        km and times, for programs) are said in words beside the odometer.
        """
        details = dict(error.details or {})
        readings = {k: details.pop(k) for k in NEIGHBOURS if isinstance(details.get(k), Mapping)}
        placed = False
        for name, messages in details.items() if error.status == 422 else ():
            field = self._fields.get(name.split(".")[0])
            texts = [api_message(m) for m in _flatten(messages) if isinstance(m, str)]
            if field is not None and field.name != "csrf_token":
                field.errors = [*field.errors, *texts]
                placed = True
            else:
                self.form_errors.extend(texts)
        words = [
            str(
                NEIGHBOURS[key]
                % {"km": as_number(r.get("km")), "when": as_datetime(r.get("read_at"))}
            )
            for key, r in readings.items()
        ]
        odometer = self._fields.get(ODOMETER)
        if odometer is not None:
            odometer.errors = [*odometer.errors, *words]
        else:
            self.form_errors.extend(words)
        if not placed or error.status != 422:
            self.form_errors.insert(0, plain_words(error))


def _flatten(messages: Any) -> list[Any]:
    if isinstance(messages, list):
        return [m for item in messages for m in _flatten(item)]
    if isinstance(messages, dict):
        return [m for item in messages.values() for m in _flatten(item)]
    return [messages]


# --- Fields as people type them ------------------------------------------------------

# "45.300" or "45,300" or "45 300": a whole number with its thousands separated.
THOUSANDS = re.compile(r"\d{1,3}([.,\s]\d{3})+")


class KmField(IntegerField):
    """Kilometres: a text box with the number pad; thousands separators are dropped."""

    widget = TextInput()

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {"inputmode": "numeric"})
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and isinstance(valuelist[0], str):
            typed = valuelist[0].strip()
            if THOUSANDS.fullmatch(typed):
                typed = re.sub(r"[.,\s]", "", typed)
            valuelist = [typed]
        super().process_formdata(valuelist)


class CommaDecimalField(DecimalField):
    """A decimal as Brazilians type it: "45,3" and "1.234,56" (and "45.3" as well).

    A text box, not ``type=number``: browsers refuse a comma there in some languages.
    """

    widget = TextInput()

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {"inputmode": "decimal"})
        super().__init__(label, validators, places=None, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and isinstance(valuelist[0], str):
            typed = valuelist[0].strip().replace(" ", "")
            if "," in typed:
                # The comma is the decimal point; dots before it separate thousands.
                typed = typed.replace(".", "").replace(",", ".")
            valuelist = [typed]
        super().process_formdata(valuelist)


class LocalDateTimeField(DateTimeLocalField):
    """A date and time typed on the fleet's clock, sent to the API with its offset."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        # Browsers send minutes; some add seconds when a step is set.
        formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        super().__init__(label, validators, format=formats, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if isinstance(self.data, datetime) and self.data.tzinfo is None:
            self.data = self.data.replace(tzinfo=FLEET_ZONE)
