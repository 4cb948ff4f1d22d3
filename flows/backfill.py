"""Backfill many dates in one flow run: concurrent tasks (a process pool, or Dask), resumable.

Processes, not threads: the work is CPU-bound and matplotlib's pyplot state is per process.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import math
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner

from nightdesk import __version__, facts
from nightdesk.marketdata.calendar import sessions_between
from nightdesk.marketdata.registry import MarketDataBatch, provider_from_settings
from nightdesk.narrative.claims import verify
from nightdesk.narrative.compose import compose_notes
from nightdesk.settings import Settings
from nightdesk.rendering.outputs import publish_note, write_archive
from nightdesk.rendering.pdf import prepare_fonts
from nightdesk.rendering.svg_i18n import SvgWriter
from nightdesk.rendering.publish import note_dir


def already_published(settings: Settings, day: dt.date, key: str) -> bool:
    """True when ``output/<day>/facts.json`` was built from the same inputs."""
    path = note_dir(settings.output_dir, day.isoformat()) / "facts.json"
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8"))["meta"].get("inputs_key") == key
    except (OSError, ValueError, KeyError):
        return False


def notes_for_chunk(data: MarketDataBatch, days: list[dt.date], settings: Settings, langs: list[str], force: bool,
                    fontconfig: Path) -> dict[str, str]:
    """Dates of one chunk end to end (no archive page): date -> 'done', 'skipped' or 'failed: <reason>'.

    Dates already published from the same inputs (data, code and settings:
    :func:`nightdesk.facts.inputs_key`) are skipped; the others' facts are computed together
    (:func:`nightdesk.facts.compute_many`) and each is published on its own.
    ``fontconfig``: :func:`rendering.pdf.chart_fontconfig`'s file.
    """
    status: dict[str, str] = {}
    keys: dict[dt.date, str] = {}
    todo = []
    for day in days:
        try:
            md = data.for_day(day)
            keys[day] = facts.inputs_key(md, settings, langs)
        except Exception as exc:  # noqa: BLE001 - reported per date
            status[day.isoformat()] = f"failed: {exc}"
            continue
        if not force and already_published(settings, day, keys[day]):
            status[day.isoformat()] = "skipped"
        else:
            todo.append(md)
    svg_writer = SvgWriter()  # charts drawn for one date serve another with the same data
    for day, record in facts.compute_many(todo, settings).items():
        try:
            if isinstance(record, Exception):
                raise record
            record = record.model_copy(update={"meta": record.meta.model_copy(update={"inputs_key": keys[day]})})
            notes = compose_notes(record, langs)
            verify(record, notes)
            publish_note(record, notes, settings.output_dir, version=__version__, fontconfig=fontconfig,
                         svg_writer=svg_writer, dir_mode=settings.publish_dir_mode, file_mode=settings.publish_file_mode)
            status[day.isoformat()] = "done"
        except Exception as exc:  # noqa: BLE001 - reported per date, the backfill goes on
            status[day.isoformat()] = f"failed: {exc}"
    return {d.isoformat(): status[d.isoformat()] for d in days}


def run_chunk(provider: Any, days: list[dt.date], settings: Settings, langs: list[str], force: bool) -> dict[str, str]:
    """A run of consecutive dates: the font check, the data reads (prices, reference data, one
    flows window covering every date) and the archive page once, then :func:`notes_for_chunk`.

    Returns date -> 'done', 'skipped' or 'failed: <reason>'; one bad date does not stop the others.
    """
    fontconfig = prepare_fonts(settings.cache_dir)
    data = MarketDataBatch(provider, days, history_days=settings.history_days, options_dir=settings.options_dir)
    with _long_lived_frozen():
        status = notes_for_chunk(data, days, settings, langs, force, fontconfig)
    write_archive(settings.output_dir, file_mode=settings.publish_file_mode)
    return status


@task(task_run_name="notes from {days[0]}", timeout_seconds=3600)
def notes_for_dates(provider: Any, days: list[dt.date], settings: Settings, langs: list[str], force: bool) -> dict[str, str]:
    """:func:`run_chunk` as one task: per-task costs (scheduling, state, pickling the provider)
    are paid once per chunk, not once per date. Failed dates are logged with their reason."""
    status = run_chunk(provider, days, settings, langs, force)
    logger = get_run_logger()
    for day, state in status.items():
        if state.startswith("failed"):
            logger.error("%s %s", day, state)
    return status


@contextlib.contextmanager
def _long_lived_frozen(gen0_threshold: int = 50_000):
    """Cheaper garbage collection while a chunk renders: what is alive now (modules, font caches,
    the chunk's data) is frozen out of the collector's scans, and young collections run every
    ``gen0_threshold`` allocations instead of 700. Charts and layouts make many short-lived
    cycles; with the defaults the collector took about 0.4 s of CPU a date, with this about 0.2.
    Restored on exit, so the chunk's data can be collected."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def chunks(days: list[dt.date], *, per_worker: int = 8, n_workers: int = 2, max_size: int = 8) -> list[list[dt.date]]:
    """Consecutive runs of dates, in order: about ``per_worker`` chunks per worker (load balance
    and a live progress bar), at most ``max_size`` dates each, and shrinking towards the end (to
    a ``2 * n_workers``-th of the dates left, two at least) so the workers finish together
    instead of one idling through the other's last long chunk.

    Examples
    --------
    >>> [len(c) for c in chunks(list(range(60)))]
    [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 2, 2, 2]
    """
    size = max(1, min(max_size, math.ceil(len(days) / (per_worker * n_workers))))
    out, i = [], 0
    while i < len(days):
        n = min(size, max(2, math.ceil((len(days) - i) / (2 * n_workers))))
        out.append(days[i : i + n])
        i += n
    return out


@flow(name="backfill", task_runner=ProcessPoolTaskRunner(max_workers=2))
def backfill(start: dt.date, end: dt.date, provider: str | None = None, langs: list[str] | None = None,
             force: bool = False, settings: Settings | None = None, progress: bool = False) -> dict:
    """Publish every session in ``[start, end]`` (skipping dates already built from the same inputs).

    One flow run; the dates go out in chunks (:func:`chunks`) to the task runner's workers.
    Returns a summary with per-date status, failures with their reason, and timings.
    """
    settings = settings or Settings()
    langs = list(langs or settings.langs)
    prov = provider_from_settings(settings, provider or settings.provider)
    first, last = prov.coverage()
    days = [d for d in sessions_between(max(start, first), min(end, last))]
    t0 = time.perf_counter()
    with _workers_use_this_api():
        futures = {notes_for_dates.submit(prov, c, settings, langs, force): c for c in chunks(days)}
    status: dict[str, str] = {}
    bar = _progress(len(days)) if progress else None
    for fut in futures:  # in submission order: the workers take chunks in that order too
        try:
            status.update(fut.result())
        except Exception as exc:  # noqa: BLE001 - a chunk that could not run at all fails its dates
            status.update({d.isoformat(): f"failed: {exc}" for d in futures[fut]})
        if bar is not None:
            counts = {k: sum(v.startswith(k) for v in status.values()) for k in ("done", "skipped", "failed")}
            bar.update(bar.task_ids[0], completed=len(status), info=f"done {counts['done']} skipped {counts['skipped']} failed {counts['failed']}")
    if bar is not None:
        bar.stop()
    elapsed = time.perf_counter() - t0
    summary = {
        "dates": len(days),
        "done": sum(v == "done" for v in status.values()),
        "skipped": sum(v == "skipped" for v in status.values()),
        "failed": {k: v for k, v in sorted(status.items()) if v.startswith("failed")},
        "elapsed_s": round(elapsed, 1),
        "per_date_s": round(elapsed / max(1, len(days)), 2),
    }
    get_run_logger().info("backfill %s..%s: %s", start, end, summary)
    return summary


def _workers_use_this_api():
    """Settings under which task processes report to this process's Prefect API.

    With no ``PREFECT_API_URL`` configured, Prefect starts a temporary server for the flow run;
    task processes inherit settings, not that server, so each would start a temporary server of
    its own (three uvicorn servers on SQLite for two workers, taking about a core between them).
    Pointing them at the one this process runs keeps every task run in one place, cheaply.
    """
    if PREFECT_API_URL.value():
        return contextlib.nullcontext()
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # one per process: the temporary server this flow run already uses
    server.start()  # no-op when running
    return temporary_settings(updates={PREFECT_API_URL: server.api_url})


def _progress(total: int):
    """A started rich progress bar: dates done / failed / skipped and an ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    bar.start()
    bar.add_task("dates", total=total, info="")
    return bar


def dask_backfill(address: str | None = None):
    """The backfill flow on a Dask cluster (``pip install 'nightdesk[dask]'``); local cluster when no address."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise RuntimeError("--dask needs the optional package: pip install 'nightdesk[dask]'") from None
    runner = DaskTaskRunner(address=address) if address else DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1})
    return backfill.with_options(task_runner=runner)
