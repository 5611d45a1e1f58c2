"""HTTP routes for each manager's notification settings."""

from __future__ import annotations

from apiflask import APIBlueprint

from fleet_service.notifications import service
from fleet_service.notifications.schemas import NotificationSettingsIn, NotificationSettingsOut
from shared.roles import MANAGERS
from shared.routes import command_route

bp = APIBlueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/fleet/notification-settings",
    tag="Notifications",
)

command_route(
    bp,
    "GET",
    "",
    service.notification_settings,
    item=NotificationSettingsOut,
    roles=MANAGERS,
    summary="Your notification settings; the defaults while none are saved (manager)",
)
command_route(
    bp,
    "PUT",
    "",
    service.save_notification_settings,
    body=NotificationSettingsIn,
    item=NotificationSettingsOut,
    roles=MANAGERS,
    summary="Save your notification settings: the daily digest e-mail and its language (manager)",
)
