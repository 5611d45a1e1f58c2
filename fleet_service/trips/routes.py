"""HTTP routes for trips."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint

from fleet_service.drivers.users import auth_users
from fleet_service.trips import service
from fleet_service.trips.schemas import (
    TripCheckInIn,
    TripCheckOutIn,
    TripListQuery,
    TripOut,
)
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated

bp = APIBlueprint("trips", __name__, url_prefix="/api/v1/fleet/trips", tag="Trips")


@bp.post("")
@bp.auth_required(user_auth)
@bp.input(TripCheckOutIn, arg_name="body")
@bp.output(TripOut, status_code=201)
@bp.doc(summary="Check a vehicle out: start a trip")
def check_out_trip(body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.check_out_trip(
        db_session=current_session(), identity=identity, find_user=auth_users().find, **body
    )


@bp.post("/<uuid:trip_id>/check-in")
@bp.auth_required(user_auth)
@bp.input(TripCheckInIn, arg_name="body")
@bp.output(TripOut)
@bp.doc(summary="Check a vehicle in: end the trip")
def check_in_trip(trip_id: uuid.UUID, body: dict[str, Any]) -> Any:
    identity = current_identity()
    return service.check_in_trip(
        db_session=current_session(),
        identity=identity,
        find_user=auth_users().find,
        trip_id=trip_id,
        **body,
    )


@bp.get("")
@bp.auth_required(user_auth)
@paginated(bp, service.TRIPS, query=TripListQuery, item=TripOut, csv_filename="trips.csv")
@bp.doc(summary="List trips (a driver sees their own)")
def list_trips() -> sa.Select[Any]:
    return service.TRIPS.select(current_identity())


@bp.get("/<uuid:trip_id>")
@bp.auth_required(user_auth)
@bp.output(TripOut)
@bp.doc(summary="One trip")
def get_trip(trip_id: uuid.UUID) -> Any:
    return service.TRIPS.get(current_session(), current_identity(), trip_id)
