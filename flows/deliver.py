"""Prefect flow: email the published note of a date to every active subscriber, exactly once.

No Prefect retries here: a missing note or a damaged file does not get better by waiting, and
SMTP's transient errors are retried per message (with backoff) inside
:func:`nightdesk.delivery.send.deliver`, the one retry layer for mail. A run that could not
send to everyone ends *Failed* (after recording what was sent), with a one-line message.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.states import Failed

from nightdesk.mail_headers import HeaderValueError
from nightdesk.delivery.message import mail_template
from nightdesk.delivery.links import ReaderLinks, edition_summary, sending_problems
from nightdesk.delivery.published import PublishedNoteError, read_published, verify_published
from nightdesk.delivery.send import DeliveryFailed, DeliveryReport, deliver
from nightdesk.delivery.store import LANGUAGES, StoreError, connect, list_subscribers
from nightdesk.delivery.tokens import Tokens
from nightdesk.delivery.transport import OutboxTransport, SmtpTransport
from nightdesk.flows.alerts import notify_operator
from nightdesk.narrative.compose import email_summary, note_from_json
from nightdesk.rendering.outputs import pdf_name
from nightdesk.rendering.publish import PublishError, note_dir
from nightdesk.settings import Settings


class DeliveryError(RuntimeError):
    """The note to deliver is missing, incomplete or damaged, or delivery is misconfigured."""


def outbox_folder(settings: Settings, date: str) -> Path:
    """The outbox of ``date``: private, and never inside the published output folder."""
    folder = settings.delivery.outbox_folder(date)
    out = Path(settings.output_dir).resolve()
    if folder.resolve() == out or out in folder.resolve().parents:
        raise DeliveryError(f"delivery.outbox_dir {settings.delivery.outbox_dir} is inside output_dir {settings.output_dir}: "
                            "the .eml files carry personal unsubscribe links and must not be published")
    return folder


def make_transport(settings: Settings, date: str):
    """The configured transport: SMTP, or the file outbox (see :func:`outbox_folder`)."""
    d = settings.delivery
    if d.transport == "smtp":
        return SmtpTransport.from_settings(d.smtp)
    try:
        return OutboxTransport(outbox_folder(settings, date))
    except OSError as exc:
        raise DeliveryError(f"outbox {outbox_folder(settings, date)}: {exc.strerror}") from None


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


def summary_langs(lang: str) -> list[str]:
    """The composed notes an edition's email summarises: the bilingual body is English and 繁體, as its PDF."""
    return ["en", "zh-Hant"] if lang == "bilingual" else [lang]


def edition_files(lang: str) -> tuple[str, ...]:
    """What one subscriber language needs from the published folder: its PDF and composed notes."""
    return (pdf_name(lang), *(f"note.{x}.json" for x in summary_langs(lang)))


def deliver_published(date: str, settings: Settings) -> DeliveryReport:
    """Everything the flow does, as a plain function: check the published note against its
    manifest, render each edition's email once, send through the ledger.

    Raises :class:`DeliveryError`, :class:`~nightdesk.delivery.published.PublishedNoteError`,
    :class:`~nightdesk.delivery.store.StoreError` (one line each) before anything is sent;
    failures while sending are in the returned report.
    """
    d = settings.delivery
    try:
        folder = note_dir(settings.output_dir, date)
    except PublishError as exc:
        raise DeliveryError(str(exc)) from None
    if not (folder / "facts.json").is_file():
        raise DeliveryError(f"no published note for {date} in {folder}: run `nightdesk run --date {date}` first")
    links = reader_links(settings)
    base_url = settings.web.base_url if links is not None else None
    verify_published(folder, date)  # every published file, not only what this run attaches: a damaged folder sends nothing
    engine = connect(d.db_url, lock_wait_s=d.db_lock_wait_s)
    langs = sorted({s.language for s in list_subscribers(engine, status="active")}, key=LANGUAGES.index)
    note = read_published(folder, date, {lang: edition_files(lang) for lang in langs})
    templates = {}
    for lang, files in note.files.items():
        parts = []
        for x in summary_langs(lang):
            try:
                parts.append(email_summary(note_from_json(files[f"note.{x}.json"].decode("utf-8"))))
            except ValueError as exc:  # a file that matches its manifest but is not a note: a bug upstream
                raise DeliveryError(f"{note.folder / f'note.{x}.json'}: {exc}") from None
        summary = edition_summary(parts, note_date=date, base_url=base_url)
        templates[lang] = mail_template(summary, files[pdf_name(lang)], note_date=date, language=lang)
    return deliver(engine, date, templates=templates, unavailable=note.missing, transport=make_transport(settings, date),
                   from_addr=d.from_addr, unsubscribe_mailto=d.unsubscribe_mailto, unsubscribe_url=links or d.unsubscribe_url,
                   rate_per_s=d.rate_per_s, max_attempts=d.max_attempts, claim_lease_s=d.claim_lease_s, lock_wait_s=d.db_lock_wait_s)


EXPECTED = (DeliveryError, PublishedNoteError, StoreError, HeaderValueError)


@task(task_run_name="send {date}")
def send_task(date: str, settings: Settings) -> DeliveryReport:
    """:func:`deliver_published`; an expected failure comes back as the report's ``error``."""
    try:
        return deliver_published(date, settings)
    except EXPECTED as exc:
        return DeliveryReport(note_date=date, error=str(exc))


@flow(name="deliver-note", on_failure=[notify_operator], on_crashed=[notify_operator])
def deliver_note(date: dt.date, settings: Settings | None = None):
    """Send the published note of ``date``; safe to run again (the ledger prevents duplicates).

    Completed with the :class:`DeliveryReport` when every active subscriber has the note;
    otherwise Failed, with the first problem as the state's message: a plain call raises
    :class:`DeliveryFailed`, whose ``report`` says what was sent.
    """
    settings = settings or Settings()
    report = send_task(date.isoformat(), settings)
    log = get_run_logger()
    log.info("delivery %s: %s", date, report.summary())
    for line in report.not_sent + report.notes:
        log.info("%s", line)
    if report.error:
        return Failed(message=report.error, data=DeliveryFailed(report))
    if not report.complete:
        return Failed(message=f"delivery {date}: {report.summary()}; first: {report.not_sent[0]}", data=DeliveryFailed(report))
    return report
