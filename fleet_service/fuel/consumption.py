"""Fuel consumption (km/L) by the full-tank method, in SQL.

Filling up to full at A and again at B, the litres put in from just after A up to
and including B (the partial fills in between too) are what the vehicle burned over
the km from A to B. Such an interval counts only when:

- no fill in it says ``missed_previous`` (some litres went unlogged), and
- the fill at A and every fill up to B are of one fuel type — a flex vehicle's
  tank holding a mix belongs to neither fuel, so gasoline and ethanol come out
  separately and the changeover interval is left out.

Each vehicle's fills are walked in ``filled_at`` order (the odometer ledger keeps
their km non-decreasing in that order). An interval closing at or after ``since``
opens at the vehicle's last full tank before ``since`` or later, so the walk starts
there: a report over a month reads about a month of fills, whatever the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from fleet_service.fuel.models import FuelLog


def consumption_intervals(
    *, vehicles: sa.Select[Any], since: datetime, until: datetime
) -> sa.Subquery:
    """One row per countable interval closed in [``since``, ``until``), for the vehicles
    whose ids ``vehicles`` selects (SQL, not a list: a fleet is thousands of them).

    Columns: ``vehicle_id``, ``fuel_type``, ``closed_at`` (the closing fill's time),
    ``km`` and ``liters``.
    """
    segments = _segments(_fills(vehicles, since, until))

    # Segments are numbered 0, 1, 2… per vehicle; the one before closes at A.
    def before(column: sa.ColumnElement[Any]) -> sa.Over[Any]:
        return sa.func.lag(column).over(
            partition_by=segments.c.vehicle_id, order_by=segments.c.segment
        )

    chained = sa.select(
        *segments.c,
        before(segments.c.closing_km).label("opening_km"),
        before(segments.c.fuel_type).label("opening_fuel_type"),
    ).subquery("chained")
    return (
        sa.select(
            chained.c.vehicle_id,
            chained.c.fuel_type,
            chained.c.closed_at,
            (chained.c.closing_km - chained.c.opening_km).label("km"),
            chained.c.liters,
        )
        .where(
            # The walk may start a little before ``since``: what closes there is left out.
            chained.c.closed_at >= since,
            chained.c.opening_km.is_not(None),
            sa.not_(chained.c.missed),
            chained.c.one_fuel,
            chained.c.opening_fuel_type == chained.c.fuel_type,
        )
        .subquery("intervals")
    )


def _walks(vehicles: sa.Select[Any], since: datetime) -> sa.Subquery:
    """Where each vehicle's walk starts: its last full tank before ``since``, or else
    ``since`` itself (fills before a vehicle's first full tank open no interval)."""
    scope = vehicles.subquery("vehicles")
    vehicle_id = next(iter(scope.c))
    # Per vehicle, backwards along the (vehicle_id, filled_at, id) index to the first
    # full tank: a fill or two, however long the history. Starting at its time rather
    # than at the fill itself may take in fills of that same instant just before it;
    # those only close intervals before ``since``, which are left out.
    last_full_tank = (
        sa.select(FuelLog.filled_at)
        .where(FuelLog.vehicle_id == vehicle_id, FuelLog.full_tank, FuelLog.filled_at < since)
        .order_by(FuelLog.filled_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.select(
        vehicle_id.label("vehicle_id"),
        sa.func.coalesce(last_full_tank, since).label("walk_from"),
    ).subquery("walks")


def _fills(vehicles: sa.Select[Any], since: datetime, until: datetime) -> sa.Subquery:
    """The vehicles' fills from the start of their walk up to ``until``, each with its
    segment number."""
    walks = _walks(vehicles, since)
    in_order = (FuelLog.filled_at, FuelLog.id)
    # A fill's segment is the number of full tanks before it: each segment runs from
    # just after one full tank up to and including the next one, which closes it. The
    # walk starts at a full tank (or before any), so every segment after the first
    # holds the same fills as it would counted from the vehicle's very first fill.
    # LATERAL: one range of the (vehicle_id, filled_at) index per vehicle, from its own
    # start. Numbered inside, which keeps PostgreSQL from flattening it into a join
    # (there it looked the start up again for every fill, not once per vehicle).
    walk = (
        sa.select(
            FuelLog.filled_at,
            FuelLog.odometer_km,
            FuelLog.fuel_type,
            FuelLog.liters,
            FuelLog.full_tank,
            FuelLog.missed_previous,
            sa.func.count()
            .filter(FuelLog.full_tank)
            .over(order_by=in_order, rows=(None, -1))
            .label("segment"),
        )
        .where(
            FuelLog.vehicle_id == walks.c.vehicle_id,
            FuelLog.filled_at >= walks.c.walk_from,
            FuelLog.filled_at < until,
        )
        .lateral("walk")
    )
    return (
        sa.select(walks.c.vehicle_id, *walk.c)
        .select_from(walks)
        .join(walk, sa.true())
        .subquery("fills")
    )


def _segments(fills: sa.Subquery) -> sa.Subquery:
    """One row per segment of fills: its litres, and the full tank that closes it, if any."""
    return (
        sa.select(
            fills.c.vehicle_id,
            fills.c.segment,
            sa.func.sum(fills.c.liters).label("liters"),
            sa.func.bool_or(fills.c.missed_previous).label("missed"),
            (sa.func.min(fills.c.fuel_type) == sa.func.max(fills.c.fuel_type)).label("one_fuel"),
            # A segment holds one full tank at most: the one that closes it.
            sa.func.max(fills.c.filled_at).filter(fills.c.full_tank).label("closed_at"),
            sa.func.max(fills.c.odometer_km).filter(fills.c.full_tank).label("closing_km"),
            sa.func.max(fills.c.fuel_type).filter(fills.c.full_tank).label("fuel_type"),
        )
        .group_by(fills.c.vehicle_id, fills.c.segment)
        .subquery("segments")
    )
