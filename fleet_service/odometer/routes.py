"""HTTP routes for the odometer ledger."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.drivers.users import FIND_USER
from fleet_service.odometer import service
from fleet_service.odometer.schemas import ReadingCreateIn, ReadingOut, ReadingVoidIn
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS
from shared.routes import command_route

bp = APIBlueprint("odometer", __name__, url_prefix="/api/v1/fleet", tag="Odometer")

command_route(
    bp,
    "POST",
    "/vehicles/<uuid:vehicle_id>/odometer",
    service.record_manual_reading,
    body=ReadingCreateIn,
    item=ReadingOut,
    status_code=201,
    uses=FIND_USER,
    endpoint="record_reading",
    summary="Record an odometer reading",
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


command_route(
    bp,
    "POST",
    "/odometer-readings/<uuid:reading_id>/void",
    service.void_reading,
    body=ReadingVoidIn,
    item=ReadingOut,
    roles=MANAGERS,
    summary="Void a wrong reading (manager); enter the right one as a new reading",
)
