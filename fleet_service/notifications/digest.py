"""The daily digest: one e-mail a day to each manager who asks for it, listing the
alerts raised since their last digest and those still open, in their language.

Run by the fleet worker every few minutes (fleet_service.jobs). A manager is due
once DIGEST_HOUR has passed in São Paulo and no digest went out to them that day.
Each is claimed before sending: ``last_digest_at`` is set, only if it still holds
what was read, and committed. Of two workers at once one claims and sends, the
other finds it taken. A send that fails puts the old value back, so the next run
tries again (that day or, past midnight, with the next day's). A worker killed
between the claim and the send loses that one digest: the next lists every
alert still open.

The alerts are those of ``announced_alerts``, which alert evaluation keeps: the
alerts the webhooks announced, each with when it was raised (what "new since the
last digest" needs, and ``list_alerts`` cannot tell), at most
ALERTS_EVALUATE_MINUTES old.

Who gets one: settings are saved only by managers (the routes are manager-only),
and the fleet service knows roles only from tokens, so a manager who has since
become a driver keeps their digest until the settings are changed or removed.
"""

from __future__ import annotations

import functools
import html
import logging
import smtplib
import ssl
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy.orm import Session

from fleet_service.alerts.service import KINDS
from fleet_service.notifications.models import AnnouncedAlert, NotificationSetting
from shared.config import Settings
from shared.jobs import WorkerContext

logger = logging.getLogger("frota.digests")

# The fleet's clock: the digest's day and hour are São Paulo's (as the console's are).
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
SMTP_TIMEOUT_SECONDS = 30
BABEL_LOCALES = {"pt-BR": "pt_BR", "en": "en"}

# Every text of the digest, by language. An alert reads "<what> · <detail> · <who> ·
# <when>"; its <what> is by kind and status (Portuguese agrees in gender).
TEXTS: dict[str, dict[str, Any]] = {
    "pt-BR": {
        "subject": "Frota: resumo dos alertas de {day}",
        "intro": "Alertas da frota em {day}.",
        "new": "Novos desde o último resumo ({count})",
        "open": "Ainda abertos ({count})",
        "nothing": "Nenhum alerta aberto: tudo em dia.",
        "footer": "Você recebe este e-mail porque ativou o resumo diário nas configurações "
        "de notificação da Frota.",
        "what": {
            ("inspection", "failed"): "Inspeção reprovada",
            ("maintenance", "overdue"): "Manutenção atrasada",
            ("maintenance", "due_soon"): "Manutenção próxima",
            ("document", "expired"): "Documento vencido",
            ("document", "expiring"): "Documento a vencer",
            ("license", "expired"): "CNH vencida",
            ("license", "expiring"): "CNH a vencer",
        },
        "severity": {
            "low": "gravidade baixa",
            "medium": "gravidade média",
            "high": "gravidade alta",
            "critical": "gravidade crítica",
        },
        "inspected_on": "em {date}",
        "due_on": "prazo: {date}",
        "due_km": "prazo: {km} km",
        "current_km": "agora {km} km",
        "valid_until": "validade: {date}",
    },
    "en": {
        "subject": "Frota: alert digest for {day}",
        "intro": "Your fleet's alerts on {day}.",
        "new": "New since the last digest ({count})",
        "open": "Still open ({count})",
        "nothing": "No open alerts: all clear.",
        "footer": "You get this e-mail because you turned on the daily digest in your "
        "Frota notification settings.",
        "what": {
            ("inspection", "failed"): "Inspection failed",
            ("maintenance", "overdue"): "Maintenance overdue",
            ("maintenance", "due_soon"): "Maintenance due soon",
            ("document", "expired"): "Document expired",
            ("document", "expiring"): "Document expiring",
            ("license", "expired"): "Driver license expired",
            ("license", "expiring"): "Driver license expiring",
        },
        "severity": {
            "low": "low severity",
            "medium": "medium severity",
            "high": "high severity",
            "critical": "critical severity",
        },
        "inspected_on": "on {date}",
        "due_on": "due {date}",
        "due_km": "due at {km} km",
        "current_km": "now {km} km",
        "valid_until": "valid until {date}",
    },
}

# A digest's sections: each heading with its alerts, an alert as the pieces of its line.
Sections = list[tuple[str, list[list[str]]]]


@dataclass(frozen=True)
class DueDigest:
    """A manager whose digest is due, as read before claiming it."""

    user_id: uuid.UUID
    email: str
    language: str
    last_digest_at: datetime | None


def send_due_digests(context: WorkerContext, *, now: datetime | None = None) -> int:
    """Send each manager's digest that is due at ``now`` (by default: now); how many went.

    Without SMTP_HOST none is sent (and that is logged once a process).
    """
    settings = context.settings
    if not settings.smtp_host:
        _log_no_smtp()
        return 0
    local_now = (now or datetime.now(UTC)).astimezone(SAO_PAULO)
    if local_now.hour < settings.digest_hour:
        return 0
    sent = 0
    with context.database.sessionmaker() as db_session:
        for due in _due_digests(db_session, local_now):
            message = _compose(db_session, due, local_now, sender=settings.smtp_from)
            if not _claim(db_session, due, local_now):
                continue  # another worker's
            outcome = _send(settings, message, due)
            context.metrics.emails.labels(kind="digest", outcome=outcome).inc()
            if outcome == "failed":
                _unclaim(db_session, due, local_now)
                # The server is away or refusing us: the rest wait for the next run.
                break
            if outcome == "sent":
                sent += 1
    return sent


@functools.cache  # once a process: the worker runs this every few minutes
def _log_no_smtp() -> None:
    logger.warning("SMTP_HOST is not set: no digest e-mails are sent")


def _due_digests(db_session: Session, local_now: datetime) -> list[DueDigest]:
    start_of_day = datetime.combine(local_now.date(), time.min, SAO_PAULO)
    rows = db_session.execute(
        sa.select(
            NotificationSetting.user_id,
            NotificationSetting.email,
            NotificationSetting.language,
            NotificationSetting.last_digest_at,
        )
        .where(
            NotificationSetting.email_digest == "daily",
            sa.or_(
                NotificationSetting.last_digest_at.is_(None),
                NotificationSetting.last_digest_at < start_of_day,
            ),
        )
        .order_by(NotificationSetting.user_id)
    )
    # A daily digest has an e-mail address (ck_notification_settings_digest_has_email).
    return [DueDigest(row.user_id, row.email, row.language, row.last_digest_at) for row in rows]


def _claim(db_session: Session, due: DueDigest, local_now: datetime) -> bool:
    """Mark ``due``'s digest sent at ``local_now``, if no other worker did since it was read."""
    claimed = db_session.execute(
        sa.update(NotificationSetting)
        .where(
            NotificationSetting.user_id == due.user_id,
            NotificationSetting.email_digest == "daily",
            NotificationSetting.last_digest_at.is_not_distinct_from(due.last_digest_at),
        )
        .values(last_digest_at=local_now)
        .returning(NotificationSetting.user_id)
    ).first()
    db_session.commit()
    return claimed is not None


def _unclaim(db_session: Session, due: DueDigest, local_now: datetime) -> None:
    """Put back what ``_claim`` replaced: the digest is due again."""
    db_session.execute(
        sa.update(NotificationSetting)
        .where(
            NotificationSetting.user_id == due.user_id,
            NotificationSetting.last_digest_at == local_now,
        )
        .values(last_digest_at=due.last_digest_at)
    )
    db_session.commit()


def _send(settings: Settings, message: EmailMessage, due: DueDigest) -> str:
    """Send ``message``: "sent", "refused" (the server will not take that address:
    another try would not help) or "failed" (worth another try)."""
    try:
        _submit(settings, message)
    except smtplib.SMTPRecipientsRefused as exc:
        logger.warning("digest to user %s refused: %s", due.user_id, exc.recipients)
        return "refused"
    except OSError as exc:  # smtplib's errors are OSErrors
        logger.warning("digest to user %s not sent: %s", due.user_id, exc)
        return "failed"
    return "sent"


def _submit(settings: Settings, message: EmailMessage) -> None:
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)
        # The message is the server's once accepted: a failed goodbye changes nothing.
        with suppress(OSError):
            smtp.quit()
    finally:
        smtp.close()


def _compose(
    db_session: Session, due: DueDigest, local_now: datetime, *, sender: str
) -> EmailMessage:
    """``due``'s digest as of ``local_now``: plain text and HTML, in their language."""
    texts = TEXTS[due.language]
    locale = BABEL_LOCALES[due.language]
    day = format_date(local_now.date(), "long", locale=locale)
    new, still_open = _alerts_since(db_session, due.last_digest_at)
    sections = [
        (texts[key].format(count=len(alerts)), [_alert_parts(a, texts, locale) for a in alerts])
        for key, alerts in (("new", new), ("open", still_open))
        if alerts
    ]
    message = EmailMessage()
    message["Subject"] = texts["subject"].format(day=day)
    message["From"] = sender
    message["To"] = due.email
    message["Date"] = format_datetime(local_now)
    # One id per manager and day: a digest ever sent twice reads as one in mail clients.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "frota"
    message["Message-ID"] = f"<digest.{due.user_id}.{local_now.date().isoformat()}@{domain}>"
    intro = texts["intro"].format(day=day)
    message.set_content(_as_text(intro, sections, texts))
    message.add_alternative(_as_html(due.language, intro, sections, texts), subtype="html")
    # After the content: setting it drops the Content-* headers there were.
    message["Content-Language"] = due.language
    return message


def _alerts_since(
    db_session: Session, last_digest_at: datetime | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The open alerts raised since ``last_digest_at`` (all, before a first digest), and
    the others; each in /alerts' order of kinds, oldest first."""
    oldest_first = db_session.execute(
        sa.select(AnnouncedAlert.data, AnnouncedAlert.raised_at).order_by(
            AnnouncedAlert.raised_at, AnnouncedAlert.subject_id
        )
    )
    rows = sorted(oldest_first, key=lambda row: KINDS.index(row.data["kind"]))
    new = [r.data for r in rows if last_digest_at is None or r.raised_at > last_digest_at]
    old = [r.data for r in rows if last_digest_at is not None and r.raised_at <= last_digest_at]
    return new, old


def _alert_parts(alert: dict[str, Any], texts: dict[str, Any], locale: str) -> list[str]:
    """An alert as the pieces of its line: what, its detail, who, when."""
    kind = alert["kind"]
    parts = [texts["what"][kind, alert["status"]]]
    if kind == "inspection":
        parts.append(texts["severity"][alert["severity"]])
    elif kind in ("maintenance", "document"):
        parts.append(alert["title"])  # the schedule's name; the document's type and number
    parts.extend(who for who in (alert["plate"], alert["driver_name"]) if who)
    parts.extend(_when(alert, texts, locale))
    return parts


def _when(alert: dict[str, Any], texts: dict[str, Any], locale: str) -> list[str]:
    when = []
    if alert["due_at"] is not None:
        moment = datetime.fromisoformat(alert["due_at"]).astimezone(SAO_PAULO)
        key = "inspected_on" if alert["kind"] == "inspection" else "due_on"
        when.append(texts[key].format(date=format_date(moment.date(), "medium", locale=locale)))
    for field in ("due_km", "current_km"):
        if alert[field] is not None:
            when.append(texts[field].format(km=format_decimal(alert[field], locale=locale)))
    if alert["due_on"] is not None:
        valid_until = format_date(date.fromisoformat(alert["due_on"]), "medium", locale=locale)
        when.append(texts["valid_until"].format(date=valid_until))
    return when


def _as_text(intro: str, sections: Sections, texts: dict[str, Any]) -> str:
    lines = [intro, ""]
    for heading, alerts in sections:
        lines += [heading, "", *(f"- {' · '.join(parts)}" for parts in alerts), ""]
    if not sections:
        lines += [texts["nothing"], ""]
    lines += ["-- ", texts["footer"]]  # the signature separator mail clients know
    return "\n".join(lines) + "\n"


def _as_html(language: str, intro: str, sections: Sections, texts: dict[str, Any]) -> str:
    # Plates, names, schedules and documents are typed by people: every piece is escaped.
    e = html.escape
    body = [f"<p>{e(intro)}</p>"]
    for heading, alerts in sections:
        items = "".join(
            f"<li><strong>{e(parts[0])}</strong>"
            + "".join(f" · {e(part)}" for part in parts[1:])
            + "</li>"
            for parts in alerts
        )
        body.append(f"<h2>{e(heading)}</h2><ul>{items}</ul>")
    if not sections:
        body.append(f"<p>{e(texts['nothing'])}</p>")
    body.append(f'<p style="color:#666;font-size:small">{e(texts["footer"])}</p>')
    return (
        f'<!DOCTYPE html><html lang="{e(language)}"><head><meta charset="utf-8">'
        f"<title>{e(intro)}</title></head><body>{''.join(body)}</body></html>"
    )
