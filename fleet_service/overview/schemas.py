"""The answer of a vehicle's overview: the vehicle and its latest records, each as its own
list answers it."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import List, Nested

from fleet_service.documents.schemas import DocumentOut
from fleet_service.fuel.schemas import FuelLogOut
from fleet_service.inspections.schemas import InspectionOut
from fleet_service.maintenance.schemas import ScheduleOut
from fleet_service.odometer.schemas import ReadingOut
from fleet_service.reports.schemas import VehicleReportOut
from fleet_service.trips.schemas import TripOut
from fleet_service.vehicles.schemas import VehicleOut

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
