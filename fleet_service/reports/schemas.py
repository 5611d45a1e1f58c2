"""Request and response shapes of the reports API, and their CSV columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apiflask import Schema
from apiflask.fields import UUID, Integer, List, Nested, String
from apiflask.validators import Range
from marshmallow import post_load

from fleet_service.reports.service import DEFAULT_MONTHS, MAX_MONTHS
from fleet_service.vehicles.models import FUEL_TYPES
from shared.csv_export import format_field
from shared.schemas import DecimalString, Query, UTCDateTime

# Without a period, a report covers the last 30 days ending now.
DEFAULT_PERIOD = timedelta(days=30)


class ReportQuery(Query):
    period_from = UTCDateTime(
        data_key="from",
        load_default=None,
        metadata={"description": "Start of the period; by default 30 days before its end"},
    )
    period_to = UTCDateTime(
        data_key="to",
        load_default=None,
        metadata={"description": "End of the period (excluded); by default now"},
    )
    format = format_field()

    @post_load
    def with_default_period(self, query: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        period_to = query["period_to"] or datetime.now(UTC)
        period_from = query["period_from"] or period_to - DEFAULT_PERIOD
        return {**query, "period_from": period_from, "period_to": period_to}


class MonthlyReportQuery(Query):
    months = Integer(
        load_default=DEFAULT_MONTHS,
        validate=Range(1, MAX_MONTHS),
        metadata={"description": "How many calendar months, the current one included"},
    )
    format = format_field()


def litres() -> DecimalString:
    return DecimalString(required=True, places=3)


def money() -> DecimalString:
    return DecimalString(required=True, places=2)


class FuelTypeFiguresOut(Schema):
    fuel_type = String(required=True)
    liters = litres()
    fuel_cost = money()
    fills = Integer(required=True)
    measured_km = Integer(
        required=True, metadata={"description": "km of the full-tank intervals behind km_per_liter"}
    )
    measured_liters = litres()
    km_per_liter = DecimalString(
        allow_none=True,
        places=2,
        metadata={"description": "Between full tanks, partial fills included; none measured: null"},
    )


class ReportFiguresOut(Schema):
    km_driven = Integer(required=True)
    liters = litres()
    fuel_cost = money()
    maintenance_cost = money()
    total_cost = money()
    cost_per_km = DecimalString(
        allow_none=True,
        places=3,
        metadata={"description": "total_cost / km_driven; null when no km were driven"},
    )
    fuel_types = List(Nested(FuelTypeFiguresOut), required=True)


class VehicleFiguresOut(ReportFiguresOut):
    vehicle_id = UUID(required=True)
    plate = String(required=True)


class VehicleReportOut(Schema):
    period_from = UTCDateTime(data_key="from", required=True)
    period_to = UTCDateTime(data_key="to", required=True)
    vehicle = Nested(VehicleFiguresOut, required=True)


class FleetReportOut(Schema):
    period_from = UTCDateTime(data_key="from", required=True)
    period_to = UTCDateTime(data_key="to", required=True)
    vehicles = List(Nested(VehicleFiguresOut), required=True)
    totals = Nested(ReportFiguresOut, required=True)


class MonthFiguresOut(ReportFiguresOut):
    month = String(required=True, metadata={"description": "YYYY-MM, in America/Sao_Paulo"})
    period_from = UTCDateTime(data_key="from", required=True)
    period_to = UTCDateTime(
        data_key="to",
        required=True,
        metadata={"description": "The next month's start (the current month: figures so far)"},
    )


class MonthlyReportOut(Schema):
    months = List(
        Nested(MonthFiguresOut),
        required=True,
        metadata={"description": "Oldest first; the current month last"},
    )


FUEL_COLUMNS = ("liters", "fuel_cost", "km_per_liter")
CSV_COLUMNS = (
    "vehicle_id",
    "plate",
    "km_driven",
    "liters",
    "fuel_cost",
    "maintenance_cost",
    "total_cost",
    "cost_per_km",
    *(f"{fuel}_{column}" for fuel in FUEL_TYPES for column in FUEL_COLUMNS),
)


MONTHLY_CSV_COLUMNS = ("month", "from", "to", *CSV_COLUMNS[2:])


def csv_row(figures: dict[str, Any]) -> dict[str, Any]:
    """One CSV line of dumped figures: a column per figure, and per figure of each fuel."""
    row = {name: value for name, value in figures.items() if name != "fuel_types"}
    for fuel in figures["fuel_types"]:
        row.update({f"{fuel['fuel_type']}_{column}": fuel[column] for column in FUEL_COLUMNS})
    return row
