"""A vehicle's overview: its screen in one call (manager).

Not a domain of its own but the composition of several, above them all: it reads the
records of the domains below with their own declarations (who sees what, order) and
answers each with its own list's schema.

The web console's vehicle page — and any client's vehicle screen — shows the vehicle
with its latest readings, trips, fills, schedules, documents and inspections and its
last 30 days' figures. Each is already a list or a report of the API; asked for one
by one they cost eight round trips through the gateway, each verified, limited and
logged. This route answers them together, each part exactly as its own list
answers its first page (the same records, order and fields).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import List, Nested

from fleet_service.documents.schemas import DocumentOut
from fleet_service.documents.service import DOCUMENTS
from fleet_service.fuel.schemas import FuelLogOut
from fleet_service.fuel.service import FUEL_LOGS
from fleet_service.inspections.schemas import InspectionOut
from fleet_service.inspections.service import INSPECTIONS
from fleet_service.maintenance.schemas import ScheduleOut
from fleet_service.maintenance.service import SCHEDULES
from fleet_service.odometer.schemas import ReadingOut
from fleet_service.odometer.service import READINGS
from fleet_service.reports import service as reports
from fleet_service.reports.schemas import DEFAULT_PERIOD, VehicleReportOut
from fleet_service.trips.schemas import TripOut
from fleet_service.trips.service import TRIPS
from fleet_service.vehicles.schemas import VehicleOut
from fleet_service.vehicles.service import VEHICLES
from shared.db import current_session
from shared.internal_auth import current_identity, user_auth
from shared.records import Records
from shared.roles import MANAGERS

# How many of each record the overview carries, latest first.
LATEST = {"odometer": 30, "trips": 10, "fuel_logs": 10, "inspections": 10}
# Every schedule and document of a vehicle: a vehicle has a handful.
ALL_OF_A_VEHICLE = 100


class VehicleOverviewOut(Schema):
    vehicle = Nested(VehicleOut, required=True)
    odometer = List(
        Nested(ReadingOut),
        required=True,
        metadata={"description": f"The latest {LATEST['odometer']} live readings, latest first"},
    )
    trips = List(
        Nested(TripOut),
        required=True,
        metadata={"description": f"The latest {LATEST['trips']} trips"},
    )
    fuel_logs = List(
        Nested(FuelLogOut),
        required=True,
        metadata={"description": f"The latest {LATEST['fuel_logs']} fills"},
    )
    report = Nested(
        VehicleReportOut,
        required=True,
        metadata={"description": "The vehicle's figures over the last 30 days"},
    )
    schedules = List(Nested(ScheduleOut), required=True)
    documents = List(Nested(DocumentOut), required=True)
    inspections = List(
        Nested(InspectionOut),
        required=True,
        metadata={"description": f"The latest {LATEST['inspections']} inspections"},
    )


bp = APIBlueprint("overview", __name__, url_prefix="/api/v1/fleet", tag="Overview")


@bp.get("/vehicles/<uuid:vehicle_id>/overview")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.output(VehicleOverviewOut)
def vehicle_overview(vehicle_id: uuid.UUID) -> dict[str, Any]:
    """A vehicle with its latest records and last 30 days' figures, in one call (manager)"""
    db_session, identity = current_session(), current_identity()
    vehicle = VEHICLES.get(db_session, identity, vehicle_id)

    def first_page(records: Records[Any], limit: int, **query: Any) -> list[Any]:
        stmt = records.select(identity).where(records.model.vehicle_id == vehicle_id)
        return records.page(db_session, stmt, {"limit": limit, "cursor": None, **query}).items

    now = datetime.now(UTC)
    return {
        "vehicle": vehicle,
        "odometer": first_page(READINGS, LATEST["odometer"], include_voided=False),
        "trips": first_page(TRIPS, LATEST["trips"]),
        "fuel_logs": first_page(FUEL_LOGS, LATEST["fuel_logs"]),
        "report": reports.vehicle_report(
            db_session=db_session,
            vehicle_id=vehicle_id,
            period_from=now - DEFAULT_PERIOD,
            period_to=now,
        ),
        "schedules": first_page(SCHEDULES, ALL_OF_A_VEHICLE),
        "documents": first_page(DOCUMENTS, ALL_OF_A_VEHICLE),
        "inspections": first_page(INSPECTIONS, LATEST["inspections"]),
    }
