"""HTTP routes for vehicles."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import current_app

from fleet_service.vehicles import service
from fleet_service.vehicles.schemas import (
    VehicleCreateIn,
    VehicleListQuery,
    VehicleOut,
    VehicleUpdateIn,
)
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import paginated
from shared.roles import MANAGERS

bp = APIBlueprint("vehicles", __name__, url_prefix="/api/v1/fleet/vehicles", tag="Vehicles")


@bp.post("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(VehicleCreateIn, arg_name="body")
@bp.output(VehicleOut, status_code=201)
@bp.doc(summary="Register a vehicle (manager)")
def create_vehicle(body: dict[str, Any]) -> Any:
    settings = current_app.config["FROTA_SETTINGS"]
    return service.create_vehicle(
        db_session=current_session(), plate_format=settings.plate_format, **body
    )


@bp.get("")
@bp.auth_required(user_auth)
@paginated(
    bp, service.VEHICLES, query=VehicleListQuery, item=VehicleOut, csv_filename="vehicles.csv"
)
@bp.doc(summary="List the vehicles the caller may see")
def list_vehicles() -> sa.Select[Any]:
    return service.VEHICLES.select(current_identity())


@bp.get("/<uuid:vehicle_id>")
@bp.auth_required(user_auth)
@bp.output(VehicleOut)
@bp.doc(summary="One vehicle")
def get_vehicle(vehicle_id: uuid.UUID) -> Any:
    return service.VEHICLES.get(current_session(), current_identity(), vehicle_id)


@bp.patch("/<uuid:vehicle_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(VehicleUpdateIn, arg_name="body")
@bp.output(VehicleOut)
@bp.doc(summary="Change a vehicle in service (manager)")
def update_vehicle(vehicle_id: uuid.UUID, body: dict[str, Any]) -> Any:
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
@bp.doc(summary="Retire a vehicle (manager): its history is kept, its plate freed")
def retire_vehicle(vehicle_id: uuid.UUID) -> Any:
    return service.retire_vehicle(db_session=current_session(), vehicle_id=vehicle_id)
