"""Who is calling, in the fleet's terms."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from fleet_service.drivers.models import Driver
from shared.errors import APIError
from shared.internal_auth import Identity


def caller_user_id(identity: Identity) -> uuid.UUID:
    """The calling user's id; the auth service's user ids are UUIDs, anything else is refused."""
    try:
        return uuid.UUID(str(identity.user_id))
    except ValueError:
        raise APIError(403, "user_required", "This route acts for a user") from None


def own_driver_ids(identity: Identity) -> sa.Select[uuid.UUID]:
    """The ids of the calling user's driver records (none or one)."""
    return sa.select(Driver.id).where(Driver.user_id == caller_user_id(identity))
