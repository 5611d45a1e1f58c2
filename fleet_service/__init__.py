"""The fleet service: vehicles, drivers, trips, odometer, fuel, maintenance, inspections."""

from __future__ import annotations

from pathlib import Path

from apiflask import APIFlask

from fleet_service import media_files
from fleet_service.alerts import routes as alert_routes
from fleet_service.assignments import routes as assignment_routes
from fleet_service.constraints import CONFLICTS
from fleet_service.documents import routes as document_routes
from fleet_service.drivers import routes as driver_routes
from fleet_service.drivers import users
from fleet_service.fuel import routes as fuel_routes
from fleet_service.inspections import routes as inspection_routes
from fleet_service.maintenance import routes as maintenance_routes
from fleet_service.notifications import routes as notification_routes
from fleet_service.odometer import routes as odometer_routes
from fleet_service.reports import routes as report_routes
from fleet_service.trips import routes as trip_routes
from fleet_service.vehicles import routes as vehicle_routes
from fleet_service.webhooks import routes as webhook_routes
from shared.config import Settings
from shared.db import Database
from shared.service_app import create_service_app

SERVICE = "fleet"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> APIFlask:
    settings = settings or Settings.from_env()
    app = create_service_app(
        SERVICE,
        settings,
        import_name=__name__,
        title="Frota fleet",
        database=database,
        conflicts=CONFLICTS,
    )
    users.init_app(app, settings)
    media_files.init_app(app, settings)
    register_blueprints(app)
    return app


def register_blueprints(app: APIFlask) -> None:
    app.register_blueprint(vehicle_routes.bp)
    app.register_blueprint(driver_routes.bp)
    app.register_blueprint(assignment_routes.bp)
    app.register_blueprint(odometer_routes.bp)
    app.register_blueprint(trip_routes.bp)
    app.register_blueprint(fuel_routes.bp)
    app.register_blueprint(maintenance_routes.bp)
    app.register_blueprint(inspection_routes.bp)
    app.register_blueprint(document_routes.bp)
    app.register_blueprint(alert_routes.bp)
    app.register_blueprint(report_routes.bp)
    app.register_blueprint(webhook_routes.bp)
    app.register_blueprint(notification_routes.bp)
    # Imported last: the overview composes every domain's schemas, which describe their
    # models' columns only once every model (and each foreign key's target) is defined.
    from fleet_service import overview

    app.register_blueprint(overview.bp)
