"""Every table of the fleet schema, imported in one place for Alembic."""

from fleet_service.assignments.models import Assignment
from fleet_service.base import Base
from fleet_service.documents.models import Document
from fleet_service.drivers.models import Driver
from fleet_service.fuel.models import FuelLog
from fleet_service.inspections.models import Inspection, InspectionItem
from fleet_service.maintenance.models import MaintenanceRecord, MaintenanceSchedule
from fleet_service.notifications.models import AnnouncedAlert, NotificationSetting
from fleet_service.odometer.models import OdometerReading
from fleet_service.trips.models import Trip
from fleet_service.vehicles.models import Vehicle
from fleet_service.webhooks.models import Event, Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "AnnouncedAlert",
    "Assignment",
    "Base",
    "Document",
    "Driver",
    "Event",
    "FuelLog",
    "Inspection",
    "InspectionItem",
    "MaintenanceRecord",
    "MaintenanceSchedule",
    "NotificationSetting",
    "OdometerReading",
    "Trip",
    "Vehicle",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
