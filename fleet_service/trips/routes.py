"""HTTP routes for trips."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.drivers.users import FIND_USER
from fleet_service.trips import service
from fleet_service.trips.schemas import TripCheckInIn, TripCheckOutIn, TripOut
from shared.routes import command_route, get_route, list_route

bp = APIBlueprint("trips", __name__, url_prefix="/api/v1/fleet/trips", tag="Trips")

command_route(
    bp,
    "POST",
    "",
    service.check_out_trip,
    body=TripCheckOutIn,
    item=TripOut,
    status_code=201,
    uses=FIND_USER,
    summary="Check a vehicle out: start a trip",
)
command_route(
    bp,
    "POST",
    "/<uuid:trip_id>/check-in",
    service.check_in_trip,
    body=TripCheckInIn,
    item=TripOut,
    uses=FIND_USER,
    summary="Check a vehicle in: end the trip",
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
