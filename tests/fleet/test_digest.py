"""The daily digest e-mail, sent to a real SMTP server (aiosmtpd) started by each test."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from babel.dates import format_date

from fleet_service.alerts.evaluation import evaluate_alerts
from fleet_service.inspections.service import record_inspection
from fleet_service.notifications import digest
from fleet_service.notifications.digest import send_due_digests
from fleet_service.notifications.models import AnnouncedAlert, NotificationSetting
from fleet_service.notifications.service import save_notification_settings
from shared.internal_auth import Identity
from shared.jobs import WorkerContext, WorkerMetrics
from tests.support.factories import (
    active_user,
    make_document,
    make_driver,
    make_fuel_log,
    make_maintenance_record,
    make_schedule,
    make_vehicle,
    manager_identity,
    no_files,
)
from tests.support.processes import free_port

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
# The digests' clock: a day of their own, past DIGEST_HOUR (7, the default).
MORNING = datetime(2030, 3, 8, 8, 0, tzinfo=SAO_PAULO)
TODAY = datetime.now(UTC).date()
NOW = datetime.now(UTC)


class Inbox:
    """An aiosmtpd handler keeping every message it accepts; it refuses ``refused``."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def worker(settings, database, smtp_port, **env) -> WorkerContext:
    """What the fleet worker's tasks get, sending to the test's SMTP server."""
    changes = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_starttls": False,
        "smtp_from": "Frota <frota@example.com>",
        **env,
    }
    return WorkerContext(settings.replace(**changes), database, WorkerMetrics("fleet"))


@pytest.fixture
def context(settings, database, smtp_port) -> WorkerContext:
    return worker(settings, database, smtp_port)


def emails(context: WorkerContext, outcome: str) -> float:
    labels = {"kind": "digest", "outcome": outcome}
    return context.metrics.registry.get_sample_value("frota_emails_total", labels) or 0


def wants_digest(db_session, language, email=None, digest_mode="daily") -> uuid.UUID:
    """A manager who saved their settings; their user id."""
    user_id = uuid.uuid4()
    identity = Identity(
        user_id=str(user_id), role="manager", caller="gateway", request_id=uuid.uuid4().hex
    )
    save_notification_settings(
        db_session=db_session,
        identity=identity,
        email_digest=digest_mode,
        language=language,
        email=email or f"{user_id.hex[:8]}@example.com",
    )
    return user_id


def announce_alerts(database) -> None:
    with database.sessionmaker() as db_session:
        evaluate_alerts(db_session)


def some_alerts(db_session):
    """A vehicle with an insurance expiring, and an oil change (named with markup) due soon."""
    vehicle = make_vehicle(db_session)
    make_fuel_log(db_session, vehicle=vehicle, km=1_000, liters="30", filled_at=NOW - timedelta(2))
    make_schedule(db_session, vehicle=vehicle, every_km=900, name="<b>Óleo & filtro</b>")
    document = make_document(db_session, vehicle=vehicle, valid_until=TODAY + timedelta(days=5))
    return vehicle, document


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert html is not None
    # As sent: lines end in CRLF.
    return plain.get_content().replace("\r\n", "\n"), html.get_content()


def last_digest_at(db_session, user_id):
    return db_session.scalar(
        sa.select(NotificationSetting.last_digest_at)
        .where(NotificationSetting.user_id == user_id)
        .execution_options(populate_existing=True)
    )


def test_an_english_digest_lists_the_open_alerts_in_html_and_text(
    context, database, db_session, inbox
):
    vehicle, document = some_alerts(db_session)
    wants_digest(db_session, "en", "ana@example.com")
    announce_alerts(database)

    assert send_due_digests(context, now=MORNING) == 1

    [message] = inbox.to("ana@example.com")
    assert message["Subject"] == "Frota: alert digest for March 8, 2030"
    assert message["From"] == "Frota <frota@example.com>"
    assert message["Content-Language"] == "en"
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    due = format_date(TODAY + timedelta(days=5), "medium", locale="en")
    insurance = (
        f"Document expiring · insurance {document.number} · {vehicle.plate} · valid until {due}"
    )
    oil = (
        f"Maintenance due soon · <b>Óleo & filtro</b> · {vehicle.plate}"
        " · due at 1,900 km · now 1,000 km"
    )
    assert "New since the last digest (2)" in text
    assert f"- {oil}\n" in text
    assert f"- {insurance}\n" in text
    # The schedule's name is text, never markup.
    assert "<b>Óleo" not in html
    assert "&lt;b&gt;Óleo &amp; filtro&lt;/b&gt;" in html
    assert f"<strong>Document expiring</strong> · insurance {document.number}" in html
    assert '<html lang="en">' in html
    assert emails(context, "sent") == 1


def test_a_portuguese_digest_is_in_portuguese_with_brazilian_dates_and_numbers(
    context, database, db_session, inbox
):
    vehicle, document = some_alerts(db_session)
    wants_digest(db_session, "pt-BR", "bia@example.com")
    announce_alerts(database)

    send_due_digests(context, now=MORNING)

    [message] = inbox.to("bia@example.com")
    assert message["Subject"] == "Frota: resumo dos alertas de 8 de março de 2030"
    assert message["Content-Language"] == "pt-BR"
    text, html = parts(message)
    due = format_date(TODAY + timedelta(days=5), "medium", locale="pt_BR")
    assert "Novos desde o último resumo (2)" in text
    assert (
        f"- Documento a vencer · insurance {document.number} · {vehicle.plate} · validade: {due}\n"
        in text
    )
    assert "Manutenção próxima · <b>Óleo & filtro</b>" in text
    assert "prazo: 1.900 km · agora 1.000 km" in text
    assert '<html lang="pt-BR">' in html
    assert "Documento a vencer" in html


def every_kind_of_alert(db_session):
    """One alert of each kind and status there is."""
    vehicle = make_vehicle(db_session)
    make_fuel_log(db_session, vehicle=vehicle, km=1_000, liters="30", filled_at=NOW - timedelta(2))
    make_schedule(db_session, vehicle=vehicle, every_km=900, name="Oil")
    brakes = make_schedule(db_session, vehicle=vehicle, every_days=180, name="Brakes")
    make_maintenance_record(
        db_session, vehicle=vehicle, schedule=brakes, km=1_000, performed_at=NOW - timedelta(181)
    )
    make_document(db_session, vehicle=vehicle, valid_until=TODAY + timedelta(days=5))
    make_document(db_session, vehicle=vehicle, type="permit", valid_until=TODAY - timedelta(1))
    make_driver(db_session, license_expires_on=TODAY + timedelta(days=9))
    make_driver(db_session, license_expires_on=TODAY - timedelta(days=9))
    record_inspection(
        db_session=db_session,
        identity=manager_identity(),
        find_file=no_files,
        find_user=active_user,
        vehicle_id=vehicle.id,
        items=[{"item": "Brakes", "ok": False, "severity": "high", "note": None, "media_ids": []}],
    )


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        (
            "en",
            [
                "Inspection failed · high severity",
                "Maintenance overdue · Brakes",
                "Maintenance due soon · Oil",
                "Document expiring · insurance",
                "Document expired · permit",
                "Driver license expiring",
                "Driver license expired",
            ],
        ),
        (
            "pt-BR",
            [
                "Inspeção reprovada · gravidade alta",
                "Manutenção atrasada · Brakes",
                "Manutenção próxima · Oil",
                "Documento a vencer · insurance",
                "Documento vencido · permit",
                "CNH a vencer",
                "CNH vencida",
            ],
        ),
    ],
)
def test_every_kind_of_alert_reads_in_each_language(
    context, database, db_session, inbox, language, lines
):
    every_kind_of_alert(db_session)
    wants_digest(db_session, language)
    announce_alerts(database)

    send_due_digests(context, now=MORNING)

    text, _html = parts(inbox.messages[0])
    listed = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    assert len(listed) == len(lines)
    for line in lines:
        assert [item for item in listed if item.startswith(line)] != [], (line, listed)


def test_one_digest_a_day_however_often_the_task_runs(context, database, db_session, inbox):
    some_alerts(db_session)
    manager = wants_digest(db_session, "en")
    announce_alerts(database)

    sent = [send_due_digests(context, now=MORNING + timedelta(minutes=5 * n)) for n in range(4)]

    assert sent == [1, 0, 0, 0]
    assert len(inbox.messages) == 1
    assert last_digest_at(db_session, manager) == MORNING


def test_no_digest_before_the_digest_hour_in_sao_paulo(
    settings, database, db_session, inbox, smtp_port
):
    context = worker(settings, database, smtp_port, digest_hour=9)
    wants_digest(db_session, "en")

    # 11:59 UTC is 08:59 in São Paulo.
    assert send_due_digests(context, now=datetime(2030, 3, 8, 11, 59, tzinfo=UTC)) == 0
    assert inbox.messages == []
    assert send_due_digests(context, now=datetime(2030, 3, 8, 12, 0, tzinfo=UTC)) == 1


def test_the_next_day_another_lists_what_is_new_since_and_what_is_still_open(
    context, database, db_session, inbox
):
    vehicle, document = some_alerts(db_session)
    manager = wants_digest(db_session, "en")
    announce_alerts(database)
    assert send_due_digests(context, now=MORNING) == 1
    # Raised after that digest went out: the next one has it as new.
    late = make_document(
        db_session, vehicle=vehicle, type="permit", valid_until=TODAY - timedelta(days=1)
    )
    announce_alerts(database)
    db_session.execute(
        sa.update(AnnouncedAlert)
        .where(AnnouncedAlert.subject_id == late.id)
        .values(raised_at=MORNING + timedelta(hours=3))
    )

    assert send_due_digests(context, now=MORNING + timedelta(hours=23)) == 1
    assert send_due_digests(context, now=MORNING + timedelta(days=1)) == 0

    _first, second = inbox.messages
    text, _html = parts(second)
    new, still_open = text.split("Still open")
    assert "New since the last digest (1)" in new
    assert f"Document expired · permit {late.number}" in new
    assert f"insurance {document.number}" in still_open
    assert "(2)" in still_open
    assert second["Subject"] == "Frota: alert digest for March 9, 2030"
    assert last_digest_at(db_session, manager) == MORNING + timedelta(hours=23)


def test_a_day_without_alerts_still_brings_its_digest(context, db_session, inbox):
    wants_digest(db_session, "pt-BR", "cai@example.com")

    assert send_due_digests(context, now=MORNING) == 1

    text, _html = parts(inbox.to("cai@example.com")[0])
    assert "Nenhum alerta aberto" in text


def test_only_managers_who_asked_for_a_daily_digest_get_one(context, db_session, inbox):
    wants_digest(db_session, "en", "daily@example.com")
    wants_digest(db_session, "en", "off@example.com", digest_mode="off")

    assert send_due_digests(context, now=MORNING) == 1
    assert [m["To"] for m in inbox.messages] == ["daily@example.com"]


def test_smtp_down_loses_no_digest_the_next_run_sends_it(
    settings, database, db_session, inbox, smtp_port
):
    first, second = wants_digest(db_session, "en"), wants_digest(db_session, "pt-BR")
    down = worker(settings, database, free_port())

    assert send_due_digests(down, now=MORNING) == 0
    assert emails(down, "failed") == 1
    assert [last_digest_at(db_session, user) for user in (first, second)] == [None, None]

    up = worker(settings, database, smtp_port)
    assert send_due_digests(up, now=MORNING + timedelta(minutes=5)) == 2
    assert len(inbox.messages) == 2
    assert emails(up, "sent") == 2


def test_an_address_the_server_refuses_is_not_retried_all_day(context, db_session, inbox):
    wants_digest(db_session, "en", "gone@example.com")
    wants_digest(db_session, "en", "here@example.com")
    inbox.refused.add("gone@example.com")

    assert send_due_digests(context, now=MORNING) == 1
    assert send_due_digests(context, now=MORNING + timedelta(minutes=5)) == 0

    assert [m["To"] for m in inbox.messages] == ["here@example.com"]
    assert (emails(context, "refused"), emails(context, "sent")) == (1, 1)


def test_without_smtp_host_no_digest_is_sent_and_that_is_logged_once(
    settings, database, db_session, smtp_port, caplog
):
    wants_digest(db_session, "en")
    context = worker(settings, database, smtp_port, smtp_host="")
    digest._log_no_smtp.cache_clear()

    with caplog.at_level(logging.WARNING, logger="frota.digests"):
        assert send_due_digests(context, now=MORNING) == 0
        assert send_due_digests(context, now=MORNING + timedelta(minutes=5)) == 0

    assert [r.getMessage() for r in caplog.records] == [
        "SMTP_HOST is not set: no digest e-mails are sent"
    ]


def test_two_workers_at_once_send_each_manager_one_digest(
    settings, committed_database, smtp_port, inbox
):
    with committed_database.sessionmaker() as db_session:
        some_alerts(db_session)
        managers = [wants_digest(db_session, language) for language in ("en", "pt-BR", "en")]
    announce_alerts(committed_database)
    context = worker(settings, committed_database, smtp_port)
    start = threading.Barrier(2)

    def run(_n):
        start.wait(timeout=30)
        return send_due_digests(context, now=MORNING)

    sent = []
    for _round in range(3):
        with ThreadPoolExecutor(2) as pool:
            sent += pool.map(run, range(2))

    assert sum(sent) == len(managers)

    assert sorted(m["To"] for m in inbox.messages) == sorted(
        f"{user.hex[:8]}@example.com" for user in managers
    )
    assert emails(context, "sent") == len(managers)
