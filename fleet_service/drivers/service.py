"""Driver rules: one driver per auth user, license details, who may see which record."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.drivers.models import Driver
from fleet_service.drivers.users import FindUser
from shared.errors import APIError
from shared.internal_auth import Identity
from shared.records import Records, equals, text


def create_driver(
    *,
    db_session: Session,
    find_user: FindUser,
    user_id: uuid.UUID,
    license_number: str,
    license_category: str,
    license_expires_on: date,
    full_name: str | None = None,
) -> Driver:
    """Make ``user_id`` (an active user of the auth service) a driver; 409 if already one."""
    user = find_user(user_id)
    if user is None:
        raise APIError(422, details={"user_id": ["no such user"]})
    if not user.is_active:
        raise APIError(422, details={"user_id": ["the user is deactivated"]})
    driver = Driver(
        user_id=user.id,
        full_name=full_name or user.full_name,
        license_number=license_number,
        license_category=license_category,
        license_expires_on=license_expires_on,
    )
    db_session.add(driver)
    db_session.commit()
    return driver


def ensure_user_active(user_id: uuid.UUID, *, find_user: FindUser) -> None:
    """409 ``driver_inactive`` unless ``user_id``'s account is active in the auth service.

    Asked over the network at each write that puts a driver to work (an assignment,
    a trip, an inspection): the auth service's flag is the only one, so a
    deactivation counts from the moment it commits, with no copy to keep in step.
    When the auth service cannot say, the write is refused (fail closed): letting a
    deactivated driver out is worse than asking the client to retry. Its own 503
    (its database is down) is passed on as it is; unreachable or too slow is 503
    ``driver_status_unavailable`` — the request is fine, the rule cannot be checked
    right now — as the gateway answers when it cannot check a token's revocation.
    """
    try:
        user = find_user(user_id)
    except APIError as exc:
        if exc.status_code not in (502, 504):
            raise
        raise APIError(
            503,
            "driver_status_unavailable",
            "Whether the driver is active cannot be checked right now; retry shortly",
            headers={"Retry-After": "5"},
        ) from exc
    # A user the auth service does not know cannot drive either.
    if user is None or not user.is_active:
        raise APIError(409, "driver_inactive", "The driver's user account is deactivated")


def ensure_caller_active(identity: Identity, *, find_user: FindUser) -> None:
    """For a driver writing as themself: 409 ``driver_inactive`` unless their account is active.

    A driver's own fuel logs, readings, check-ins and inspections are the fleet's
    record of their work, held to the rule of the trips and assignments that name
    them. Managers' accounts are the gateway's to check (deactivation revokes
    their tokens); they write on the fleet's behalf, not as drivers.
    """
    if not identity.is_manager:
        ensure_user_active(caller_user_id(identity), find_user=find_user)


def driver_of(db_session: Session, identity: Identity) -> Driver | None:
    """The calling user's driver record, if they have one."""
    return db_session.scalar(sa.select(Driver).where(Driver.user_id == caller_user_id(identity)))


DRIVERS = Records(
    Driver,
    not_found=("driver_not_found", "No such driver"),
    # A driver sees their own record.
    drivers_see=lambda identity: Driver.user_id == caller_user_id(identity),
    order_by=[Driver.full_name, Driver.id],
    filters={
        "user_id": equals(Driver.user_id),
        "q": text(
            lambda words: sa.or_(
                Driver.full_name.icontains(words, autoescape=True),
                Driver.license_number.icontains(words, autoescape=True),
            ),
            max_length=60,
        ),
    },
)


def update_driver(
    *, db_session: Session, identity: Identity, driver_id: uuid.UUID, changes: dict[str, Any]
) -> Driver:
    """Change a driver's name or license; the linked user never changes."""
    driver = DRIVERS.get(db_session, identity, driver_id, for_update=True)
    if "full_name" in changes:
        driver.full_name = changes["full_name"]
    for name in ("license_number", "license_category", "license_expires_on"):
        if name in changes:
            setattr(driver, name, changes[name])
    db_session.commit()
    return driver
