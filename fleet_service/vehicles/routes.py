"""HTTP routes for vehicles."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from fleet_service.vehicles import service
from fleet_service.vehicles.schemas import VehicleCreateIn, VehicleOut, VehicleUpdateIn
from shared.db import current_session
from shared.internal_auth import user_auth
from shared.records import get_route, list_route
from shared.roles import MANAGERS

bp = APIBlueprint("vehicles", __name__, url_prefix="/api/v1/fleet/vehicles", tag="Vehicles")


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(VehicleCreateIn, arg_name="body")
@bp.output(VehicleOut, status_code=201)
def create_vehicle(body: dict[str, Any]) -> Any:
    """Register a vehicle (manager)"""
    settings = current_app.config["FROTA_SETTINGS"]
    return service.create_vehicle(
        db_session=current_session(), plate_format=settings.plate_format, **body
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


@bp.patch("/<uuid:vehicle_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(VehicleUpdateIn, arg_name="body")
@bp.output(VehicleOut)
def update_vehicle(vehicle_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """Change a vehicle in service (manager)"""
    settings = current_app.config["FROTA_SETTINGS"]
    return service.update_vehicle(
        db_session=current_session(),
        vehicle_id=vehicle_id,
        plate_format=settings.plate_format,
        changes=body,
    )


@bp.delete("/<uuid:vehicle_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.output(VehicleOut)
def retire_vehicle(vehicle_id: uuid.UUID) -> Any:
    """Retire a vehicle (manager): its history is kept, its plate freed"""
    return service.retire_vehicle(db_session=current_session(), vehicle_id=vehicle_id)
