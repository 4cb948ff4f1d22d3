"""Exactly-once delivery of one note date through the send ledger."""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from nightdesk.delivery.message import MailTemplate, build_message, mail_template, message_id, sender_domain
from nightdesk.delivery.store import Subscriber, list_subscribers, send_ledger, set_status
from nightdesk.delivery.transport import PermanentSendError, TransientSendError


@dataclass
class DeliveryReport:
    sent: int = 0
    skipped_already_sent: int = 0
    failed_permanent: int = 0
    retried: int = 0
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _ledger(conn, note_date: str, sub: Subscriber, mid: str):
    row = conn.execute(sa.select(send_ledger).where(send_ledger.c.note_date == note_date, send_ledger.c.subscriber_id == sub.id)).first()
    if row is None:
        conn.execute(send_ledger.insert().values(note_date=note_date, subscriber_id=sub.id, message_id=mid, status="pending", attempts=0, updated_utc=_now()))
        row = conn.execute(sa.select(send_ledger).where(send_ledger.c.note_date == note_date, send_ledger.c.subscriber_id == sub.id)).one()
    return row


def deliver(
    engine: sa.Engine,
    note_date: str,
    *,
    pdf_for: Callable[[str], Path],
    summary_for: Callable[[str], dict],
    transport,
    from_addr: str,
    unsubscribe_mailto: str,
    unsubscribe_url: str,
    rate_per_s: float = 50.0,
    max_attempts: int = 5,
    backoff_s: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0),
) -> DeliveryReport:
    """Send ``note_date`` to every active subscriber not yet marked sent in the ledger.

    The ledger row is marked ``sent`` right after the server accepts the message, so a
    crash or dropped connection resumes with only the unsent; running twice sends nothing
    twice. 4xx/disconnects are retried with backoff (reconnecting); 5xx marks the
    subscriber bounced and moves on.
    """
    report = DeliveryReport()
    domain = sender_domain(from_addr)
    gap = 1.0 / rate_per_s
    last = 0.0
    templates: dict[str, MailTemplate] = {}  # one per language: bodies rendered and the PDF encoded once
    for sub in list_subscribers(engine, status="active"):
        mid = message_id(note_date, sub.id, domain)
        with engine.begin() as conn:
            row = _ledger(conn, note_date, sub, mid)
        if row.status in ("sent", "failed"):
            report.skipped_already_sent += 1
            continue
        lang = sub.language
        if lang not in templates:
            templates[lang] = mail_template(summary_for(lang), pdf_for(lang), note_date=note_date, language=lang)
        msg = build_message(sub, templates[lang], note_date=note_date, from_addr=from_addr,
                            unsubscribe_mailto=unsubscribe_mailto, unsubscribe_url=unsubscribe_url)
        attempts = row.attempts
        while True:
            wait = last + gap - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            attempts += 1
            try:
                transport.send(msg)
            except TransientSendError as exc:
                _update(engine, note_date, sub.id, status="pending", attempts=attempts, error=str(exc))
                if attempts >= max_attempts:
                    report.gave_up += 1
                    report.errors.append(f"{sub.email}: gave up after {attempts} attempts: {exc}")
                    break
                report.retried += 1
                time.sleep(backoff_s[min(attempts - 1, len(backoff_s) - 1)])
                continue
            except PermanentSendError as exc:
                _update(engine, note_date, sub.id, status="failed", attempts=attempts, error=str(exc))
                set_status(engine, sub.email, "bounced")
                report.failed_permanent += 1
                report.errors.append(f"{sub.email}: {exc}")
                break
            _update(engine, note_date, sub.id, status="sent", attempts=attempts, error=None)
            report.sent += 1
            break
    transport.close()
    return report


def _update(engine: sa.Engine, note_date: str, sub_id: int, *, status: str, attempts: int, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(send_ledger.update().where(send_ledger.c.note_date == note_date, send_ledger.c.subscriber_id == sub_id)
                     .values(status=status, attempts=attempts, last_error=error, updated_utc=_now()))
