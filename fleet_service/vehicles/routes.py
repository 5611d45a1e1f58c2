"""HTTP routes for vehicles."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from fleet_service.csv_export import page_as_csv
from fleet_service.vehicles import service
from fleet_service.vehicles.schemas import (
    VehicleCreateIn,
    VehicleListQuery,
    VehicleOut,
    VehiclePageOut,
    VehicleUpdateIn,
)
from shared.db import current_session
from shared.internal_auth import require_user

bp = APIBlueprint("vehicles", __name__, url_prefix="/api/v1/fleet/vehicles", tag="Vehicles")


@bp.post("")
@bp.input(VehicleCreateIn, arg_name="body")
@bp.output(VehicleOut, status_code=201)
@bp.doc(summary="Register a vehicle (manager)")
def create_vehicle(body: dict[str, Any]) -> Any:
    require_user("admin", "manager")
    settings = current_app.config["FROTA_SETTINGS"]
    return service.create_vehicle(
        db_session=current_session(), plate_format=settings.plate_format, **body
    )


@bp.get("")
@bp.input(VehicleListQuery, location="query", arg_name="query")
@bp.output(VehiclePageOut)
@bp.doc(summary="List the vehicles the caller may see")
def list_vehicles(query: dict[str, Any]) -> Any:
    identity = require_user()
    output = query.pop("format")
    page = service.list_vehicles(db_session=current_session(), identity=identity, **query)
    if output == "csv":
        return page_as_csv(page, VehicleOut, filename="vehicles.csv")
    return page


@bp.get("/<uuid:vehicle_id>")
@bp.output(VehicleOut)
@bp.doc(summary="One vehicle")
def get_vehicle(vehicle_id: uuid.UUID) -> Any:
    identity = require_user()
    return service.get_vehicle(
        db_session=current_session(), identity=identity, vehicle_id=vehicle_id
    )


@bp.patch("/<uuid:vehicle_id>")
@bp.input(VehicleUpdateIn, arg_name="body")
@bp.output(VehicleOut)
@bp.doc(summary="Change a vehicle in service (manager)")
def update_vehicle(vehicle_id: uuid.UUID, body: dict[str, Any]) -> Any:
    require_user("admin", "manager")
    settings = current_app.config["FROTA_SETTINGS"]
    return service.update_vehicle(
        db_session=current_session(),
        vehicle_id=vehicle_id,
        plate_format=settings.plate_format,
        changes=body,
    )


@bp.delete("/<uuid:vehicle_id>")
@bp.output(VehicleOut)
@bp.doc(summary="Retire a vehicle (manager): its history is kept, its plate freed")
def retire_vehicle(vehicle_id: uuid.UUID) -> Any:
    require_user("admin", "manager")
    return service.retire_vehicle(db_session=current_session(), vehicle_id=vehicle_id)
