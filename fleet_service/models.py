"""Every table of the fleet schema, imported in one place for Alembic."""

from fleet_service.assignments.models import Assignment
from fleet_service.base import Base
from fleet_service.drivers.models import Driver
from fleet_service.odometer.models import OdometerReading
from fleet_service.trips.models import Trip
from fleet_service.vehicles.models import Vehicle

__all__ = ["Assignment", "Base", "Driver", "OdometerReading", "Trip", "Vehicle"]
