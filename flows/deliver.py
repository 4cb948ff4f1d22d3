"""Prefect flow: email the published note of a date to every active subscriber, exactly once."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task

from nightdesk.delivery.send import DeliveryReport, deliver
from nightdesk.delivery.store import connect
from nightdesk.delivery.transport import OutboxTransport, SmtpTransport
from nightdesk.narrative.compose import email_summary, note_from_json
from nightdesk.settings import Settings
from nightdesk.rendering.outputs import pdf_name
from nightdesk.rendering.publish import note_dir


class DeliveryError(RuntimeError):
    """The note to deliver is missing or incomplete."""


def make_transport(settings: Settings, folder: Path):
    """The configured transport: SMTP, or the file outbox under ``output/<date>/outbox``."""
    d = settings.delivery
    if d.transport == "smtp":
        s = d.smtp
        return SmtpTransport(s.host, s.port, security=s.security, username=s.username,
                             password=s.password.get_secret_value() if s.password else None, timeout_s=s.timeout_s)
    return OutboxTransport(folder / "outbox")


@task(retries=2, retry_delay_seconds=[5, 30], task_run_name="send {date}")
def send_task(date: str, settings: Settings) -> DeliveryReport:
    folder = note_dir(settings.output_dir, date)
    facts_path = folder / "facts.json"
    if not facts_path.exists():
        raise DeliveryError(f"no published note for {date} in {folder}: run `nightdesk run --date {date}` first")
    summaries: dict[str, dict] = {}

    def summary_for(lang: str) -> dict:
        key = "en" if lang == "bilingual" else lang
        if key not in summaries:
            path = folder / f"note.{key}.json"
            try:
                summaries[key] = email_summary(note_from_json(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise DeliveryError(f"{path.name} for {date} cannot be read ({exc}): render the {key} edition again") from None
        return summaries[key]

    def pdf_for(lang: str) -> Path:
        path = folder / pdf_name(lang)
        if not path.exists():
            raise DeliveryError(f"{path.name} missing for {date}: render the {lang} edition (--lang all)")
        return path

    d = settings.delivery
    return deliver(connect(d.db_url), date, pdf_for=pdf_for, summary_for=summary_for, transport=make_transport(settings, folder),
                   from_addr=d.from_addr, unsubscribe_mailto=d.unsubscribe_mailto, unsubscribe_url=d.unsubscribe_url,
                   rate_per_s=d.rate_per_s, max_attempts=d.max_attempts)


@flow(name="deliver-note")
def deliver_note(date: dt.date, settings: Settings | None = None) -> DeliveryReport:
    """Send the published note of ``date``; safe to run again (the ledger prevents duplicates)."""
    settings = settings or Settings()
    report = send_task(date.isoformat(), settings)
    get_run_logger().info("delivery %s: %s sent, %s already sent, %s bounced, %s gave up", date, report.sent,
                          report.skipped_already_sent, report.failed_permanent, report.gave_up)
    return report
