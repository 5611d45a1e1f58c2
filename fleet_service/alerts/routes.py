"""HTTP routes for alerts."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from fleet_service.alerts import service
from fleet_service.alerts.schemas import AlertQuery, AlertsOut
from shared.db import current_session
from shared.internal_auth import user_auth
from shared.roles import MANAGERS

bp = APIBlueprint("alerts", __name__, url_prefix="/api/v1/fleet/alerts", tag="Alerts")


@bp.get("")
@bp.auth_required(user_auth, roles=MANAGERS)
@bp.input(AlertQuery, location="query", arg_name="query")
@bp.output(AlertsOut)
def list_alerts(query: dict[str, Any]) -> Any:
    """What needs attention now, most urgent kinds first; not paged (manager)"""
    return {"items": service.list_alerts(db_session=current_session(), **query)}
