"""The note pipeline as Prefect 3 flows: fetch -> facts -> compose -> render and publish.

Tasks are thin calls into the layers below (market data, facts, narrative, rendering); this
module decides only order, retries, concurrency and what the run reports.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from nightdesk import __version__, facts
from nightdesk.analytics.quality import IncompleteDataError
from nightdesk.flows.data import update_store_task
from nightdesk.facts import FactsRecord
from nightdesk.marketdata.base import DataNotYetAvailable, MarketData, ProviderIOError
from nightdesk.marketdata.calendar import is_session, why_not_session
from nightdesk.marketdata.registry import load_market_data, provider_from_settings, resolve_date
from nightdesk.narrative.claims import verify
from nightdesk.narrative.compose import Note, compose_notes
from nightdesk.rendering.outputs import publish_note, write_archive
from nightdesk.rendering.pdf import prepare_fonts
from nightdesk.rendering.publish import ensure_writable
from nightdesk.settings import Settings


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


def _artifact(record: FactsRecord, info: dict) -> None:
    m, r, l = record.momentum, record.rotation, record.letf
    create_markdown_artifact(
        key="nightdesk-note",
        markdown=(f"## {record.meta.date}\n\n{info['headline']}\n\n| figure | value |\n|---|---|\n"
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
    _artifact(record, info)
    logger = get_run_logger()
    for x in record.meta.stale_inputs:
        logger.warning("%s: input %s is %d days old (as of %s; limit %d days)", record.meta.date, x.input, x.age_days, x.as_of, x.limit_days)
    logger.info("published %s: %s", record.meta.date, info["headline"])
    return {"date": record.meta.date.isoformat(), **info}


@flow(name="nightly-note")
def nightly_note(provider: Any = None, settings: Settings | None = None, today: dt.date | None = None) -> dict | None:
    """Scheduled entry point: skip non-sessions (logged); wait for late data within the window;
    then publish today's session. Never publishes a note built on yesterday's closes.
    """
    settings = settings or Settings()
    today = today or dt.datetime.now(ZoneInfo("America/New_York")).date()
    logger = get_run_logger()
    if not is_session(today):
        logger.info("skipping %s: %s", today, why_not_session(today))
        return None
    deadline = time.monotonic() + settings.late_data_window_s
    while True:
        try:
            if (provider or settings.provider) == "store":
                update_store_task(settings, today)  # append tonight's closes, then the note reads the store
            return regenerate_note(today, provider, None, False, settings)
        except (DataNotYetAvailable, IncompleteDataError) as exc:  # tonight's closes are late: wait within the window
            if time.monotonic() >= deadline:
                raise DataNotYetAvailable(f"data for {today.isoformat()} not complete: {exc}") from None
            logger.warning("data for %s not complete yet (%s); retrying in %ss", today, exc, settings.late_data_poll_s)
            time.sleep(settings.late_data_poll_s)
