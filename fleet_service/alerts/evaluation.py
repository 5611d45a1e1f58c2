"""Alerts announced as events: one ``alert.raised`` when an alert first appears, one
``alert.resolved`` when it goes away, however often and by however many workers
alerts are evaluated.

``announced_alerts`` holds one row per alert announced (its primary key is the
alert's kind and subject): raised is a row inserted, resolved a row deleted, and
the events go in the same transaction as those rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from fleet_service.alerts.schemas import AlertOut
from fleet_service.alerts.service import list_alerts
from fleet_service.events import record_event
from fleet_service.notifications.models import AnnouncedAlert

# pg_advisory_xact_lock key of an evaluation: "alerts" in ASCII, as a bigint (as the
# media prune job's is "media"). Without it an evaluation that read the alerts just
# before a fix could insert its row again just after a later evaluation deleted it:
# resolved, then raised again for an alert already gone.
EVALUATION_LOCK_KEY = 107118186361971

AlertKey = tuple[str, uuid.UUID]
_ALERT = AlertOut()


@dataclass(frozen=True)
class Evaluation:
    """How many alerts an evaluation raised and resolved."""

    raised: int
    resolved: int


def evaluate_alerts(db_session: Session) -> Evaluation:
    """Announce the alerts that appeared since the last evaluation and those that went away.

    Each event's data is the alert as ``GET /alerts`` answers it (a resolved one: as it
    was last seen). Commits; evaluations one after another, never interleaved.
    """
    db_session.execute(sa.select(sa.func.pg_advisory_xact_lock(EVALUATION_LOCK_KEY)))
    current: dict[AlertKey, dict[str, Any]] = {
        (alert.kind, alert.subject_id): _ALERT.dump(alert)
        for alert in list_alerts(db_session=db_session)
    }
    announced: dict[AlertKey, dict[str, Any]] = {
        (row.kind, row.subject_id): row.data
        for row in db_session.execute(
            sa.select(AnnouncedAlert.kind, AnnouncedAlert.subject_id, AnnouncedAlert.data)
        )
    }
    raised = _insert_new(db_session, {k: v for k, v in current.items() if k not in announced})
    resolved = _delete_gone(db_session, [key for key in announced if key not in current])
    # The ones still open keep their latest state (overdue now, the odometer's km) for
    # the digest and for their alert.resolved.
    changed = [
        {"kind": kind, "subject_id": subject_id, "data": data}
        for (kind, subject_id), data in current.items()
        if (kind, subject_id) in announced and announced[kind, subject_id] != data
    ]
    if changed:
        db_session.execute(sa.update(AnnouncedAlert), changed)
    for data in raised:
        record_event(db_session, "alert.raised", data)
    for data in resolved:
        record_event(db_session, "alert.resolved", data)
    db_session.commit()
    return Evaluation(raised=len(raised), resolved=len(resolved))


def _insert_new(db_session: Session, new: dict[AlertKey, dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the rows of alerts not yet announced; the data of those actually inserted."""
    if not new:
        return []
    insert = (
        postgresql.insert(AnnouncedAlert)
        .values(
            [
                {"kind": kind, "subject_id": subject_id, "data": data}
                for (kind, subject_id), data in new.items()
            ]
        )
        .on_conflict_do_nothing(index_elements=["kind", "subject_id"])
        .returning(AnnouncedAlert.data)
    )
    return list(db_session.scalars(insert))


def _delete_gone(db_session: Session, gone: list[AlertKey]) -> list[dict[str, Any]]:
    """Delete the rows of alerts no longer current; the data of those actually deleted."""
    if not gone:
        return []
    delete = (
        sa.delete(AnnouncedAlert)
        .where(sa.tuple_(AnnouncedAlert.kind, AnnouncedAlert.subject_id).in_(gone))
        .returning(AnnouncedAlert.data)
    )
    return list(db_session.scalars(delete))
