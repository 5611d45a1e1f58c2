"""Assignment rules: a driver has a vehicle over a period; periods never overlap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from fleet_service.assignments.models import Assignment
from fleet_service.callers import own_driver_ids
from fleet_service.drivers.models import Driver
from fleet_service.drivers.service import ensure_user_active
from fleet_service.drivers.users import FindUser
from fleet_service.vehicles.service import lock_vehicle
from shared.errors import APIError
from shared.records import Records, equals, flag


def create_assignment(
    *,
    db_session: Session,
    find_user: FindUser,
    vehicle_id: uuid.UUID,
    driver_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime | None = None,
) -> Assignment:
    """Give a driver a vehicle over [starts_at, ends_at); 409 on any overlap.

    The driver's user account must be active (409 ``driver_inactive``).
    """
    if ends_at is not None and ends_at <= starts_at:
        raise APIError(422, details={"ends_at": ["must be after starts_at"]})
    driver = db_session.get(Driver, driver_id)
    if driver is None:
        raise APIError(422, details={"driver_id": ["no such driver"]})
    # Before any row is locked: the auth service answers over the network.
    ensure_user_active(driver.user_id, find_user=find_user)
    # Locked so that a retirement cannot slip in between this check and the insert.
    vehicle = lock_vehicle(db_session, vehicle_id)
    if vehicle is None:
        raise APIError(422, details={"vehicle_id": ["no such vehicle"]})
    if vehicle.retired_at is not None:
        raise APIError(409, "vehicle_retired", "A retired vehicle cannot be assigned")
    assignment = Assignment(
        vehicle_id=vehicle_id, driver_id=driver_id, starts_at=starts_at, ends_at=ends_at
    )
    db_session.add(assignment)
    db_session.commit()
    return assignment


def end_assignment(
    *, db_session: Session, assignment_id: uuid.UUID, ends_at: datetime | None = None
) -> Assignment:
    """End an assignment at ``ends_at`` (now by default); 409 if it has already ended."""
    assignment = db_session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None:
        raise APIError(404, "assignment_not_found", "No such assignment")
    now = datetime.now(UTC)
    if assignment.ends_at is not None and assignment.ends_at <= now:
        raise APIError(409, "assignment_ended", "The assignment has already ended")
    ends_at = ends_at or now
    if ends_at <= assignment.starts_at:
        raise APIError(422, details={"ends_at": ["must be after the assignment starts"]})
    assignment.ends_at = ends_at
    db_session.commit()
    return assignment


ASSIGNMENTS = Records(
    Assignment,
    not_found=("assignment_not_found", "No such assignment"),
    # A driver sees their own assignments.
    drivers_see=lambda identity: Assignment.driver_id.in_(own_driver_ids(identity)),
    order_by=[Assignment.starts_at, Assignment.id],
    descending=True,
    filters={
        "vehicle_id": equals(Assignment.vehicle_id),
        "driver_id": equals(Assignment.driver_id),
        "active": flag(lambda: Assignment.active_at(datetime.now(UTC))),
    },
)
