"""HTTP routes for the odometer ledger."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.callers import caller_user_id
from fleet_service.drivers.users import auth_users
from fleet_service.odometer import service
from fleet_service.odometer.schemas import ReadingCreateIn, ReadingOut, ReadingVoidIn
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS

bp = APIBlueprint("odometer", __name__, url_prefix="/api/v1/fleet", tag="Odometer")


@bp.post("/vehicles/<uuid:vehicle_id>/odometer")
@bp.auth_required(user_auth)
@bp.input(ReadingCreateIn, arg_name="body")
@bp.output(ReadingOut, status_code=201)
def record_reading(vehicle_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """Record an odometer reading"""
    return service.record_manual_reading(
        db_session=current_session(),
        identity=current_identity(),
        find_user=auth_users().find,
        vehicle_id=vehicle_id,
        **body,
    )


# After a route whose output is ReadingOut itself: APIFlask must meet a schema on its own
# before nested in a page, or the document registers it twice (a warning, and refs break).
@bp.get("/vehicles/<uuid:vehicle_id>/odometer")
@bp.auth_required(user_auth)
@paginated(bp, service.READINGS, item=ReadingOut)
def list_readings(vehicle_id: uuid.UUID) -> sa.Select[Any]:
    """A vehicle's odometer readings, latest first"""
    return service.vehicle_readings(
        db_session=current_session(), identity=current_identity(), vehicle_id=vehicle_id
    )


@bp.post("/odometer-readings/<uuid:reading_id>/void")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(ReadingVoidIn, arg_name="body")
@bp.output(ReadingOut)
def void_reading(reading_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """Void a wrong reading (manager); enter the right one as a new reading"""
    identity = current_identity()
    db_session = current_session()
    reading = service.void_reading(
        db_session=db_session,
        reading_id=reading_id,
        reason=body["reason"],
        voided_by=caller_user_id(identity),
    )
    # void_reading leaves the commit to its caller (other records void inside their own).
    db_session.commit()
    return reading
