"""The note pipeline as Prefect 3 flows: fetch -> facts -> compose -> render and publish.

Tasks are thin calls into the layers below (market data, facts, narrative, rendering); this
module decides only order, retries, concurrency and what the run reports. The scheduled
``nightly-note`` publishes the night's note, then delivers it (``deliver-note``, idempotent);
it fails, with one operator alert (:mod:`nightdesk.flows.alerts`), when either step does.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as this_run

from nightdesk import __version__, facts
from nightdesk.analytics.quality import IncompleteDataError
from nightdesk.delivery.links import day_url, note_url
from nightdesk.flows.alerts import notify_operator
from nightdesk.flows.data import update_store_task
from nightdesk.flows.deliver import deliver_note
from nightdesk.facts import FactsRecord
from nightdesk.marketdata.base import DataNotYetAvailable, MarketData, ProviderIOError
from nightdesk.marketdata.calendar import is_session, why_not_session
from nightdesk.marketdata.registry import load_market_data, provider_from_settings, resolve_date
from nightdesk.narrative.claims import verify
from nightdesk.narrative.compose import Note, compose_notes
from nightdesk.rendering.outputs import pdf_name, publish_note, write_archive
from nightdesk.rendering.pdf import prepare_fonts
from nightdesk.rendering.publish import ensure_writable
from nightdesk.settings import Settings


class NightNotDelivered(RuntimeError):
    """The night's note was published but its delivery did not reach every subscriber."""


def _retry_io(task, task_run, state) -> bool:
    """Retry provider calls on I/O trouble only (connection, timeout, HTTP 5xx/429); bad data and
    bugs fail the same way again, so they are never retried."""
    try:
        state.result()
    except (ProviderIOError, ConnectionError, TimeoutError):
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


# No Prefect result caching: within a run nothing is computed twice, and whether a published
# note is still current is decided by its inputs key (data, code and settings: facts.inputs_key).
@task(retry_condition_fn=_retry_io, timeout_seconds=900, task_run_name="fetch {day}", cache_policy=NO_CACHE)
def fetch(provider: Any, day: dt.date | None, snap: bool, settings: Settings) -> MarketData:
    """Resolve the session and load its market data (``provider``: a name or a Provider)."""
    if isinstance(provider, str):
        provider = provider_from_settings(settings, provider)
    session = resolve_date(provider, day, snap=snap)
    return load_market_data(provider, session, history_days=settings.history_days, options_dir=settings.options_dir)


@task(task_run_name="facts {md.date}", cache_policy=NO_CACHE)
def facts_task(md: MarketData, settings: Settings, langs: list[str]) -> FactsRecord:
    """The date's facts record, keyed by what it was built from."""
    record = facts.compute(md, settings)
    return record.model_copy(update={"meta": record.meta.model_copy(update={"inputs_key": facts.inputs_key(md, settings, langs)})})


@task(task_run_name="compose {record.meta.date}", cache_policy=NO_CACHE)
def compose(record: FactsRecord, langs: list[str]) -> dict[str, Note]:
    """Every edition's text, composed once and read back against the facts; rendering and email read these."""
    notes = compose_notes(record, langs)
    verify(record, notes)
    return notes


@task(timeout_seconds=600, task_run_name="render and publish {record.meta.date}", cache_policy=NO_CACHE)
def publish(record: FactsRecord, notes: dict[str, Note], settings: Settings) -> dict:
    """Render every edition into a staging folder, swap it in atomically, refresh the archive page."""
    info = publish_note(record, notes, settings.output_dir, version=__version__, fontconfig=prepare_fonts(settings.cache_dir),
                        dir_mode=settings.publish_dir_mode, file_mode=settings.publish_file_mode)
    write_archive(settings.output_dir, file_mode=settings.publish_file_mode)
    return info


def _fetch_with_policy(settings: Settings):
    """``fetch`` with the retry schedule from settings (the one place it is defined)."""
    delays = list(settings.fetch_retry_delays_s)
    return fetch.with_options(retries=len(delays), retry_delay_seconds=delays or 0)


def note_links(date: str, langs: list[str], folder: str, base_url: str | None) -> str:
    """Markdown links to the published note: on the readers' site when ``base_url`` is set
    (``web.base_url``), else to the files in the output folder.

    >>> print(note_links("2026-02-04", ["en"], "/srv/output/2026-02-04", "https://notes.desk.news"))
    [2026-02-04 on the site](https://notes.desk.news/en/2026-02-04/) · [en HTML](https://notes.desk.news/archive/2026-02-04/note.en.html) · [en PDF](https://notes.desk.news/archive/2026-02-04/note.en.pdf)
    >>> print(note_links("2026-02-04", ["en"], "/srv/output/2026-02-04", None))
    [en HTML](file:///srv/output/2026-02-04/note.en.html) · [en PDF](file:///srv/output/2026-02-04/note.en.pdf)
    """
    if base_url:
        links = [f"[{date} on the site]({day_url(base_url, date, langs[0])})"]
        for lang in langs:
            links += [f"[{lang} HTML]({note_url(base_url, date, lang)})", f"[{lang} PDF]({base_url}/archive/{date}/{pdf_name(lang)})"]
    else:
        root = folder.rstrip("/")
        links = [x for lang in langs for x in (f"[{lang} HTML](file://{root}/note.{lang}.html)", f"[{lang} PDF](file://{root}/{pdf_name(lang)})")]
    return " · ".join(links)


def _artifact(record: FactsRecord, info: dict, langs: list[str], settings: Settings) -> None:
    m, r, l = record.momentum, record.rotation, record.letf
    base_url = settings.web.base_url if "base_url" in settings.web.model_fields_set else None
    create_markdown_artifact(
        key="nightdesk-note",
        markdown=(f"## {record.meta.date}\n\n{info['headline']}\n\n"
                  f"{note_links(record.meta.date.isoformat(), langs, info['folder'], base_url)}\n\n| figure | value |\n|---|---|\n"
                  f"| L/S % | {m.ls_ret_pct:.2f} |\n| L/S z | {m.ls_z:.2f} |\n| breadth % | {r.breadth_pct_beating_index:.1f} |\n"
                  f"| LETF flow $bn | {l.rebalance_total_usd / 1e9:.2f} |\n\nStory: {record.story.primary}\n\n"
                  + "".join(f"**Stale input:** {x.input} as of {x.as_of} ({x.age_days} days; limit {x.limit_days})\n\n" for x in record.meta.stale_inputs)
                  + f"Outputs: `{info['folder']}`"),
        description=f"nightdesk note {record.meta.date}",
    )


@flow(name="regenerate-note", log_prints=False)
def regenerate_note(date: dt.date | None = None, provider: Any = None, langs: list[str] | None = None, snap: bool = False,
                    settings: Settings | None = None) -> dict:
    """Build and publish the note for ``date`` (default: the provider's latest session)."""
    settings = settings or Settings()
    langs = list(langs or settings.langs)
    ensure_writable(settings.output_dir)
    md = _fetch_with_policy(settings)(provider or settings.provider, date, snap, settings)
    record = facts_task(md, settings, langs)
    notes = compose(record, langs)
    info = publish(record, notes, settings)
    _artifact(record, info, langs, settings)
    logger = get_run_logger()
    for x in record.meta.stale_inputs:
        logger.warning("%s: input %s is %d days old (as of %s; limit %d days)", record.meta.date, x.input, x.age_days, x.as_of, x.limit_days)
    logger.info("published %s: %s", record.meta.date, info["headline"])
    return {"date": record.meta.date.isoformat(), **info}


def night_of(today: dt.date | None) -> dt.date:
    """The session a nightly run is for: ``today`` when given, else the New York date of the run's
    scheduled start (a run that starts late, e.g. after midnight, still publishes its own night)."""
    if today is not None:
        return today
    return this_run.scheduled_start_time.astimezone(ZoneInfo("America/New_York")).date()


def _publish_when_ready(provider: Any, settings: Settings, day: dt.date) -> dict:
    """``regenerate_note`` for ``day``, waiting within ``late_data_window_s`` while its data is late."""
    logger = get_run_logger()
    deadline = time.monotonic() + settings.late_data_window_s
    while True:
        try:
            if (provider or settings.provider) == "store":
                update_store_task(settings, day)  # append tonight's closes, then the note reads the store
            return regenerate_note(day, provider, None, False, settings)
        except (DataNotYetAvailable, IncompleteDataError) as exc:  # tonight's closes are late: wait within the window
            if time.monotonic() >= deadline:
                raise DataNotYetAvailable(f"data for {day.isoformat()} not complete: {exc}") from None
            logger.warning("data for %s not complete yet (%s); retrying in %ss", day, exc, settings.late_data_poll_s)
            time.sleep(settings.late_data_poll_s)


@flow(name="nightly-note", on_failure=[notify_operator], on_crashed=[notify_operator])
def nightly_note(provider: Any = None, settings: Settings | None = None, today: dt.date | None = None) -> dict | None:
    """Scheduled entry point: skip non-sessions (logged); wait for late data within the window;
    publish the night's session, then deliver it. Never publishes a note built on yesterday's
    closes. Failed (one operator alert) when the note cannot be published or delivery does not
    reach every subscriber; delivery is idempotent, so a rerun sends only what is missing.
    """
    settings = settings or Settings()
    day = night_of(today)
    logger = get_run_logger()
    if not is_session(day):
        logger.info("skipping %s: %s", day, why_not_session(day))
        return None
    result = _publish_when_ready(provider, settings, day)
    try:
        report = deliver_note(day, settings)  # a subflow: its failure alerts once, through this run
    except Exception as exc:  # noqa: BLE001 - whatever stopped delivery fails the night, in one line
        raise NightNotDelivered(f"{day}: the note is published but delivery failed: {exc}") from exc
    logger.info("nightly %s: published %s; delivered: %s sent, %s already sent, %s bounced, %s gave up", day, result["folder"],
                report.sent, report.skipped_already_sent, report.failed_permanent, report.gave_up)
    return {**result, "delivery": {"sent": report.sent, "already_sent": report.skipped_already_sent,
                                   "bounced": report.failed_permanent, "gave_up": report.gave_up}}
