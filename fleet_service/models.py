"""Every table of the fleet schema, imported in one place for Alembic."""

from fleet_service.base import Base
from fleet_service.vehicles.models import Vehicle

__all__ = ["Base", "Vehicle"]
