"""shared.records: a list route is built only when its query and its filters agree."""

from __future__ import annotations

import pytest
from apiflask import APIBlueprint, Schema
from apiflask.fields import UUID, String

from fleet_service.fuel.models import FuelLog
from shared.records import Records, equals, paginated
from shared.schemas import PageQuery

FILLS = Records(
    FuelLog,
    not_found=("fuel_log_not_found", "No such fuel log"),
    order_by=[FuelLog.filled_at, FuelLog.id],
    filters={"vehicle_id": equals(FuelLog.vehicle_id)},
)


class FillOut(Schema):
    id = UUID()


class FillQuery(PageQuery):
    vehicle_id = UUID(load_default=None)


class FillQueryWithAStrayParameter(FillQuery):
    # Taken from the client but filtering nothing: the mistake the check catches.
    station = String(load_default=None)


def test_a_list_whose_query_and_filters_agree_is_built():
    bp = APIBlueprint("fills", __name__)

    @paginated(bp, FILLS, query=FillQuery, item=FillOut)
    def list_fills():
        raise AssertionError("not called")

    assert callable(list_fills)


def test_a_query_parameter_without_a_filter_refuses_to_build_the_route():
    bp = APIBlueprint("fills", __name__)

    with pytest.raises(TypeError, match="station"):
        paginated(bp, FILLS, query=FillQueryWithAStrayParameter, item=FillOut)
