"""Alerts announced as events: one alert.raised when an alert first appears, one
alert.resolved when it goes away, however often and by however many workers alerts are
evaluated."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from fleet_service.alerts.evaluation import Evaluation, evaluate_alerts
from fleet_service.notifications.models import AnnouncedAlert
from fleet_service.webhooks.models import Event
from tests.support.factories import (
    make_document,
    make_fuel_log,
    make_maintenance_record,
    make_schedule,
    make_vehicle,
)

TODAY = datetime.now(UTC).date()
NOW = datetime.now(UTC)


def events(db_session, event_type, subject_id=None):
    """The data of the events of ``event_type`` (about ``subject_id``), oldest first."""
    query = sa.select(Event.data).where(Event.type == event_type).order_by(Event.occurred_at)
    if subject_id is not None:
        query = query.where(Event.data["subject_id"].astext == str(subject_id))
    return list(db_session.scalars(query))


def announced(db_session):
    return {
        (row.kind, str(row.subject_id)): row.data
        for row in db_session.scalars(
            sa.select(AnnouncedAlert).execution_options(populate_existing=True)
        )
    }


def evaluate(database):
    """One evaluation, as the worker runs it: in a session of its own."""
    with database.sessionmaker() as db_session:
        return evaluate_alerts(db_session)


def test_an_alert_raises_one_event_however_often_alerts_are_evaluated(database, db_session):
    vehicle = make_vehicle(db_session)
    document = make_document(db_session, vehicle=vehicle, valid_until=TODAY + timedelta(days=5))

    runs = [evaluate(database) for _ in range(4)]

    assert runs == [Evaluation(raised=1, resolved=0)] + [Evaluation(raised=0, resolved=0)] * 3
    [raised] = events(db_session, "alert.raised", document.id)
    # The alert as GET /alerts answers it.
    assert raised["kind"] == "document"
    assert raised["status"] == "expiring"
    assert raised["plate"] == vehicle.plate
    assert raised["due_on"] == (TODAY + timedelta(days=5)).isoformat()
    assert events(db_session, "alert.resolved") == []


def test_an_evaluation_when_nothing_changed_records_no_event(database, db_session):
    vehicle = make_vehicle(db_session)
    make_document(db_session, vehicle=vehicle, valid_until=TODAY - timedelta(days=1))
    make_schedule(db_session, vehicle=vehicle, every_km=900, name="Oil")
    evaluate(database)
    count = sa.select(sa.func.count()).select_from(Event)
    before = db_session.scalar(count)

    assert evaluate(database) == Evaluation(raised=0, resolved=0)
    assert db_session.scalar(count) == before


def test_recording_the_maintenance_resolves_its_alert_once(database, db_session):
    vehicle = make_vehicle(db_session)
    brakes = make_schedule(db_session, vehicle=vehicle, every_days=180, name="Brakes")
    make_maintenance_record(
        db_session, vehicle=vehicle, schedule=brakes, km=1_000, performed_at=NOW - timedelta(181)
    )
    evaluate(database)
    [raised] = events(db_session, "alert.raised", brakes.id)
    assert raised["status"] == "overdue"

    make_maintenance_record(
        db_session, vehicle=vehicle, schedule=brakes, km=1_100, performed_at=NOW - timedelta(1)
    )
    runs = [evaluate(database) for _ in range(3)]

    assert runs == [Evaluation(raised=0, resolved=1)] + [Evaluation(raised=0, resolved=0)] * 2
    [resolved] = events(db_session, "alert.resolved", brakes.id)
    # As it was last seen.
    assert resolved == raised
    assert ("maintenance", str(brakes.id)) not in announced(db_session)
    assert len(events(db_session, "alert.raised", brakes.id)) == 1


def test_renewing_the_document_resolves_its_alert_once(database, db_session):
    vehicle = make_vehicle(db_session)
    expired = make_document(db_session, vehicle=vehicle, valid_until=TODAY - timedelta(days=3))
    evaluate(database)

    make_document(db_session, vehicle=vehicle, valid_until=TODAY + timedelta(days=365))
    evaluate(database)
    evaluate(database)

    assert [e["status"] for e in events(db_session, "alert.resolved", expired.id)] == ["expired"]
    assert announced(db_session) == {}


def test_an_alert_that_worsens_stays_one_alert_with_its_latest_state(database, db_session):
    vehicle = make_vehicle(db_session)
    make_fuel_log(db_session, vehicle=vehicle, km=1_000, liters="30", filled_at=NOW - timedelta(2))
    oil = make_schedule(db_session, vehicle=vehicle, every_km=900, name="Oil")
    evaluate(database)
    assert announced(db_session)["maintenance", str(oil.id)]["status"] == "due_soon"

    make_fuel_log(db_session, vehicle=vehicle, km=2_000, liters="30", filled_at=NOW)
    assert evaluate(database) == Evaluation(raised=0, resolved=0)

    latest = announced(db_session)["maintenance", str(oil.id)]
    assert (latest["status"], latest["current_km"]) == ("overdue", 2_000)
    assert len(events(db_session, "alert.raised", oil.id)) == 1


def evaluate_in_two_threads_at_once(database):
    """Two evaluations at the same moment, each on its own connection (as two workers)."""
    start = threading.Barrier(2)

    def evaluate_now(_n):
        with database.sessionmaker() as db_session:
            db_session.connection()  # connected before the start, so both start together
            start.wait(timeout=30)
            return evaluate_alerts(db_session)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(evaluate_now, range(2)))


def test_two_workers_evaluating_at_once_announce_each_alert_once(committed_database):
    with committed_database.sessionmaker() as db_session:
        vehicle = make_vehicle(db_session)
        brakes = make_schedule(db_session, vehicle=vehicle, every_days=180, name="Brakes")
        make_maintenance_record(
            db_session,
            vehicle=vehicle,
            schedule=brakes,
            km=1_000,
            performed_at=NOW - timedelta(181),
        )
        documents = [
            make_document(
                db_session, vehicle=vehicle, type=f"permit {n}", valid_until=TODAY + timedelta(n)
            )
            for n in range(5)
        ]
    subjects = [brakes.id, *(document.id for document in documents)]

    runs = [
        run for _round in range(3) for run in evaluate_in_two_threads_at_once(committed_database)
    ]
    assert sum(run.raised for run in runs) == len(subjects)
    with committed_database.sessionmaker() as db_session:
        assert [len(events(db_session, "alert.raised", s)) for s in subjects] == [1] * 6

        make_maintenance_record(
            db_session, vehicle=vehicle, schedule=brakes, km=1_100, performed_at=NOW - timedelta(1)
        )
    runs = [
        run for _round in range(3) for run in evaluate_in_two_threads_at_once(committed_database)
    ]
    assert sum(run.resolved for run in runs) == 1
    with committed_database.sessionmaker() as db_session:
        assert len(events(db_session, "alert.resolved", brakes.id)) == 1
        assert len(events(db_session, "alert.resolved")) == 1
        assert len(events(db_session, "alert.raised")) == len(subjects)
