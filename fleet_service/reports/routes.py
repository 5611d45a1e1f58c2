"""HTTP routes for reports (managers)."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint

from fleet_service.reports import service
from fleet_service.reports.schemas import (
    CSV_COLUMNS,
    MONTHLY_CSV_COLUMNS,
    FleetReportOut,
    MonthFiguresOut,
    MonthlyReportOut,
    MonthlyReportQuery,
    ReportFiguresOut,
    ReportQuery,
    VehicleFiguresOut,
    VehicleReportOut,
    csv_row,
)
from shared.csv_export import csv_response
from shared.db import current_session
from shared.internal_auth import user_auth
from shared.roles import MANAGERS

bp = APIBlueprint("reports", __name__, url_prefix="/api/v1/fleet/reports", tag="Reports")


@bp.get("/vehicles/<uuid:vehicle_id>")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(ReportQuery, location="query", arg_name="query")
@bp.output(VehicleReportOut)
def vehicle_report(vehicle_id: uuid.UUID, query: dict[str, Any]) -> Any:
    """A vehicle's km, fuel, km/L per fuel type and costs over a period (manager)"""
    output = query.pop("format")
    report = service.vehicle_report(db_session=current_session(), vehicle_id=vehicle_id, **query)
    if output == "csv":
        row = csv_row(VehicleFiguresOut().dump(report.vehicle))
        return csv_response([row], columns=CSV_COLUMNS, filename="vehicle-report.csv")
    return report


@bp.get("/fleet")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(ReportQuery, location="query", arg_name="query")
@bp.output(FleetReportOut)
def fleet_report(query: dict[str, Any]) -> Any:
    """The same per vehicle, and the fleet's totals (manager)"""
    output = query.pop("format")
    report = service.fleet_report(db_session=current_session(), **query)
    if output == "csv":
        rows = [csv_row(row) for row in VehicleFiguresOut(many=True).dump(report.vehicles)]
        # The fleet's line last, with no vehicle id.
        rows.append({**csv_row(ReportFiguresOut().dump(report.totals)), "plate": "TOTAL"})
        return csv_response(rows, columns=CSV_COLUMNS, filename="fleet-report.csv")
    return report


@bp.get("/fleet/monthly")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(MonthlyReportQuery, location="query", arg_name="query")
@bp.output(MonthlyReportOut)
def monthly_report(query: dict[str, Any]) -> Any:
    """The fleet's totals per calendar month (America/Sao_Paulo), this month last (manager)"""
    months = service.monthly_report(db_session=current_session(), months=query["months"])
    if query["format"] == "csv":
        rows = [csv_row(row) for row in MonthFiguresOut(many=True).dump(months)]
        return csv_response(rows, columns=MONTHLY_CSV_COLUMNS, filename="fleet-monthly.csv")
    return {"months": months}
