"""HTTP routes for vehicles."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from fleet_service.vehicles import service
from fleet_service.vehicles.schemas import VehicleCreateIn, VehicleOut, VehicleUpdateIn
from shared.roles import MANAGERS
from shared.routes import Uses, command_route, get_route, list_route

bp = APIBlueprint("vehicles", __name__, url_prefix="/api/v1/fleet/vehicles", tag="Vehicles")

# Plates are read in the format the deployment is configured for.
PLATE_FORMAT: Uses = {"plate_format": lambda: current_app.config["FROTA_SETTINGS"].plate_format}

command_route(
    bp,
    "POST",
    "",
    service.create_vehicle,
    body=VehicleCreateIn,
    item=VehicleOut,
    status_code=201,
    roles=MANAGERS,
    uses=PLATE_FORMAT,
    summary="Register a vehicle (manager)",
)
list_route(
    bp,
    "",
    service.VEHICLES,
    endpoint="list_vehicles",
    item=VehicleOut,
    csv_filename="vehicles.csv",
    summary="List the vehicles the caller may see",
)
get_route(
    bp,
    "/<uuid:vehicle_id>",
    service.VEHICLES,
    endpoint="get_vehicle",
    item=VehicleOut,
    summary="One vehicle",
)
command_route(
    bp,
    "PATCH",
    "/<uuid:vehicle_id>",
    service.update_vehicle,
    body=VehicleUpdateIn,
    body_as="changes",
    item=VehicleOut,
    roles=MANAGERS,
    uses=PLATE_FORMAT,
    summary="Change a vehicle in service (manager)",
)
command_route(
    bp,
    "DELETE",
    "/<uuid:vehicle_id>",
    service.retire_vehicle,
    item=VehicleOut,
    roles=MANAGERS,
    summary="Retire a vehicle (manager): its history is kept, its plate freed",
)
