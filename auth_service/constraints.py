"""What each constraint of the auth schema answers when it refuses a write (see shared.errors)."""

from __future__ import annotations

from shared.errors import Conflict

CONFLICTS = {
    "uq_users_username_canonical": Conflict("username_taken", "That username is already in use"),
}
