"""HTTP routes for trips."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.csv_export import page_as_csv
from fleet_service.drivers.users import auth_users
from fleet_service.trips import service
from fleet_service.trips.schemas import (
    TripCheckInIn,
    TripCheckOutIn,
    TripListQuery,
    TripOut,
    TripPageOut,
)
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint("trips", __name__, url_prefix="/api/v1/fleet/trips", tag="Trips")


@bp.post("")
@bp.input(TripCheckOutIn, arg_name="body")
@bp.output(TripOut, status_code=201)
@bp.doc(summary="Check a vehicle out: start a trip")
def check_out_trip(body: dict[str, Any]) -> Any:
    identity = require_user()
    return service.check_out_trip(
        db_session=current_session(), identity=identity, find_user=auth_users().find, **body
    )


@bp.post("/<uuid:trip_id>/check-in")
@bp.input(TripCheckInIn, arg_name="body")
@bp.output(TripOut)
@bp.doc(summary="Check a vehicle in: end the trip")
def check_in_trip(trip_id: uuid.UUID, body: dict[str, Any]) -> Any:
    identity = require_user()
    return service.check_in_trip(
        db_session=current_session(),
        identity=identity,
        find_user=auth_users().find,
        trip_id=trip_id,
        **body,
    )


@bp.get("")
@bp.input(TripListQuery, location="query", arg_name="query")
@bp.output(TripPageOut)
@bp.doc(summary="List trips (a driver sees their own)")
def list_trips(query: dict[str, Any]) -> Any:
    identity = require_user()
    output = query.pop("format")
    page = service.list_trips(db_session=current_session(), identity=identity, **query)
    if output == "csv":
        return page_as_csv(page, TripOut, filename="trips.csv")
    return page


@bp.get("/<uuid:trip_id>")
@bp.output(TripOut)
@bp.doc(summary="One trip")
def get_trip(trip_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_trip(db_session=current_session(), identity=identity, trip_id=trip_id)
