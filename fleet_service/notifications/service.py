"""Each manager's notification settings: whether a daily digest goes out, where, in
which language."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from fleet_service.callers import caller_user_id
from fleet_service.notifications.models import NotificationSetting
from shared.internal_auth import Identity

DEFAULT_DIGEST = "off"
DEFAULT_LANGUAGE = "pt-BR"


def notification_settings(*, db_session: Session, identity: Identity) -> NotificationSetting:
    """The caller's settings; the defaults (no digest, pt-BR) while none are saved."""
    user_id = caller_user_id(identity)
    saved = db_session.get(NotificationSetting, user_id)
    if saved is not None:
        return saved
    return NotificationSetting(
        user_id=user_id, email_digest=DEFAULT_DIGEST, language=DEFAULT_LANGUAGE, email=None
    )


def save_notification_settings(
    *,
    db_session: Session,
    identity: Identity,
    email_digest: str,
    language: str,
    email: str | None = None,
) -> NotificationSetting:
    """Replace the caller's settings (a daily digest needs ``email``: the schema says so)."""
    values = {"email_digest": email_digest, "language": language, "email": email}
    # One row per user, whichever of two saves at once comes first.
    upsert = (
        postgresql.insert(NotificationSetting)
        .values(user_id=caller_user_id(identity), **values)
        .on_conflict_do_update(
            index_elements=[NotificationSetting.user_id],
            set_={**values, "updated_at": sa.func.clock_timestamp()},
        )
        .returning(NotificationSetting)
    )
    saved = db_session.scalars(upsert, execution_options={"populate_existing": True}).one()
    db_session.commit()
    return saved
