"""Forms of the console: what a page posts, and the API's refusals shown beside the fields.

Rules live in the API, not here: a form only parses what the browser sends (numbers,
dates) and turns it into the API's body; whatever the API refuses comes back as
per-field details (``{"plate": ["..."]}``), which :meth:`ApiForm.show` places next to the
field of the same name, and conflicts (409) as a code, which :data:`CONFLICTS` says in
plain words at the top of the form.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import Field

from web.api import ApiError
from web.i18n import api_message

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

    def show(self, error: ApiError) -> None:
        """Put the API's refusal beside the fields it names, the rest at the top.

        Only a 422's details are messages about fields; other refusals' details are
        facts for programs (the neighbouring odometer readings of a 409), said here by
        the code's plain words.
        """
        placed = False
        details = error.details if error.status == 422 else {}
        for name, messages in details.items():
            field = self._fields.get(name.split(".")[0])
            texts = [api_message(m) for m in _flatten(messages) if isinstance(m, str)]
            if field is not None and field.name != "csrf_token":
                field.errors = [*field.errors, *texts]
                placed = True
            else:
                self.form_errors.extend(texts)
        if not placed:
            self.form_errors.insert(0, plain_words(error))


def _flatten(messages: Any) -> list[Any]:
    if isinstance(messages, list):
        return [m for item in messages for m in _flatten(item)]
    if isinstance(messages, dict):
        return [m for item in messages.values() for m in _flatten(item)]
    return [messages]
