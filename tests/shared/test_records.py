"""shared.records: a list's query parameters come from the same declaration as its filters."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from fleet_service.fuel.models import FuelLog
from fleet_service.vehicles.models import FUEL_TYPES
from shared.records import Records, equals, flag, period

FILLS = Records(
    FuelLog,
    not_found=("fuel_log_not_found", "No such fuel log"),
    order_by=[FuelLog.filled_at, FuelLog.id],
    filters={
        "vehicle_id": equals(FuelLog.vehicle_id),
        "fuel_type": equals(FuelLog.fuel_type, choices=FUEL_TYPES),
        "full": flag(lambda: FuelLog.full_tank.is_(True)),
        **period(FuelLog.filled_at, verb="filled"),
    },
)


def test_the_query_takes_paging_and_each_declared_filter_and_nothing_else():
    query = FILLS.query_schema("FillListQuery", csv=False)()

    loaded = query.load(
        {
            "vehicle_id": "0b7e2d8c-3f5a-4b8e-9a51-2f1c5a4d9e10",
            "fuel_type": "diesel",
            "full": "true",
            "from": "2026-01-01T00:00:00Z",
            "to": "2026-02-01T00:00:00Z",
            "limit": "10",
        }
    )

    assert set(loaded) == {
        "limit",
        "cursor",
        "vehicle_id",
        "fuel_type",
        "full",
        "filled_from",
        "filled_before",
    }
    with pytest.raises(ValidationError) as caught:
        query.load({"station": "Posto Sul"})
    assert list(caught.value.messages) == ["station"]


def test_a_text_filter_takes_only_its_choices():
    query = FILLS.query_schema("FillListQuery", csv=False)()

    with pytest.raises(ValidationError) as caught:
        query.load({"fuel_type": "kerosene"})
    assert list(caught.value.messages) == ["fuel_type"]


def test_format_is_a_parameter_only_of_lists_with_csv():
    assert "format" in FILLS.query_schema("A", csv=True)().fields
    assert "format" not in FILLS.query_schema("B", csv=False)().fields


def test_equality_on_free_text_without_choices_is_refused_when_declared():
    with pytest.raises(TypeError, match="choices"):
        equals(FuelLog.station)
