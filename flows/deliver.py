"""Prefect flow: email the published note of a date to every active subscriber, exactly once."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task

from nightdesk.delivery.links import ReaderLinks, edition_summary, sending_problems
from nightdesk.delivery.send import DeliveryReport, deliver
from nightdesk.delivery.store import connect
from nightdesk.delivery.tokens import Tokens
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


def reader_links(settings: Settings) -> ReaderLinks | None:
    """Signed per-subscriber links to ``nightdesk web`` when ``web.secret_key`` is set.

    Without it the outbox transport keeps the old unsigned ``delivery.unsubscribe_url`` links (a
    demo); an SMTP send is refused, as it is with placeholder addresses (one line per problem).
    """
    d, w = settings.delivery, settings.web
    if d.transport == "smtp":
        problems = sending_problems(from_addr=d.from_addr, unsubscribe_mailto=d.unsubscribe_mailto, base_url=w.base_url,
                                    base_url_set="base_url" in w.model_fields_set)
        if w.secret_key is None:
            problems.append("web.secret_key is not set: export NIGHTDESK_WEB__SECRET_KEY (it signs the unsubscribe links)")
        if problems:
            raise DeliveryError("refusing to send by SMTP: " + "; ".join(problems))
    if w.secret_key is None:
        return None
    return ReaderLinks(w.base_url, Tokens(w.secret_key.get_secret_value()), d.unsubscribe_mailto)


@task(retries=2, retry_delay_seconds=[5, 30], task_run_name="send {date}")
def send_task(date: str, settings: Settings) -> DeliveryReport:
    folder = note_dir(settings.output_dir, date)
    facts_path = folder / "facts.json"
    if not facts_path.exists():
        raise DeliveryError(f"no published note for {date} in {folder}: run `nightdesk run --date {date}` first")
    links = reader_links(settings)
    base_url = settings.web.base_url if links is not None else None
    summaries: dict[str, dict] = {}

    def summary(key: str) -> dict:
        if key not in summaries:
            path = folder / f"note.{key}.json"
            try:
                summaries[key] = email_summary(note_from_json(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise DeliveryError(f"{path.name} for {date} cannot be read ({exc}): render the {key} edition again") from None
        return summaries[key]

    def summary_for(lang: str) -> dict:  # the bilingual edition's body is English and 繁體, as its PDF
        return edition_summary([summary(x) for x in (["en", "zh-Hant"] if lang == "bilingual" else [lang])],
                               note_date=date, base_url=base_url)

    def pdf_for(lang: str) -> Path:
        path = folder / pdf_name(lang)
        if not path.exists():
            raise DeliveryError(f"{path.name} missing for {date}: render the {lang} edition (--lang all)")
        return path

    d = settings.delivery
    return deliver(connect(d.db_url), date, pdf_for=pdf_for, summary_for=summary_for, transport=make_transport(settings, folder),
                   from_addr=d.from_addr, unsubscribe_mailto=d.unsubscribe_mailto, unsubscribe_url=links or d.unsubscribe_url,
                   rate_per_s=d.rate_per_s, max_attempts=d.max_attempts)


@flow(name="deliver-note")
def deliver_note(date: dt.date, settings: Settings | None = None) -> DeliveryReport:
    """Send the published note of ``date``; safe to run again (the ledger prevents duplicates)."""
    settings = settings or Settings()
    reader_links(settings)  # a refused configuration fails here, before the task's retries
    report = send_task(date.isoformat(), settings)
    get_run_logger().info("delivery %s: %s sent, %s already sent, %s bounced, %s gave up", date, report.sent,
                          report.skipped_already_sent, report.failed_permanent, report.gave_up)
    return report
