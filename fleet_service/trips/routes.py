"""HTTP routes for trips."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.drivers.users import auth_users
from fleet_service.trips import service
from fleet_service.trips.schemas import TripCheckInIn, TripCheckOutIn, TripOut
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import get_route, list_route

bp = APIBlueprint("trips", __name__, url_prefix="/api/v1/fleet/trips", tag="Trips")


@bp.post("")
@bp.auth_required(user_auth)
@bp.input(TripCheckOutIn, arg_name="body")
@bp.output(TripOut, status_code=201)
def check_out_trip(body: dict[str, Any]) -> Any:
    """Check a vehicle out: start a trip"""
    return service.check_out_trip(
        db_session=current_session(),
        identity=current_identity(),
        find_user=auth_users().find,
        **body,
    )


@bp.post("/<uuid:trip_id>/check-in")
@bp.auth_required(user_auth)
@bp.input(TripCheckInIn, arg_name="body")
@bp.output(TripOut)
def check_in_trip(trip_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """Check a vehicle in: end the trip"""
    return service.check_in_trip(
        db_session=current_session(),
        identity=current_identity(),
        find_user=auth_users().find,
        trip_id=trip_id,
        **body,
    )


list_route(
    bp,
    "",
    service.TRIPS,
    endpoint="list_trips",
    item=TripOut,
    csv_filename="trips.csv",
    summary="List trips (a driver sees their own)",
)


get_route(
    bp,
    "/<uuid:trip_id>",
    service.TRIPS,
    endpoint="get_trip",
    item=TripOut,
    summary="One trip",
)
