"""The roles a Frota user has, named once for every part of the system."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    DRIVER = "driver"


# Plain strings, in this order, where a role is spelled out (a CHECK constraint, a schema enum).
ROLE_NAMES: tuple[str, ...] = tuple(role.value for role in Role)
# Who runs the fleet: admins may do whatever managers may. Lists, as route
# declarations take them (``auth_required(user_auth, roles=MANAGERS)``).
MANAGERS = [Role.ADMIN, Role.MANAGER]
ADMINS = [Role.ADMIN]
