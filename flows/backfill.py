"""Backfill many dates in one flow run: concurrent tasks (a process pool, or Dask), resumable.

Processes, not threads: the work is CPU-bound and matplotlib's pyplot state is per process.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.task_runners import ProcessPoolTaskRunner

from flows.nightly import compute_facts, inputs_key
from marketdata.calendar import sessions_between
from marketdata.registry import MarketDataBatch, get_provider
from nightdesk import __version__
from nightdesk.settings import Settings
from rendering.outputs import publish_note, write_archive
from rendering.pdf import check_fonts
from rendering.publish import note_dir


def already_published(settings: Settings, day: dt.date, key: str) -> bool:
    """True when ``output/<day>/facts.json`` was built from the same inputs."""
    path = note_dir(settings.output_dir, day.isoformat()) / "facts.json"
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8"))["meta"].get("inputs_key") == key
    except (OSError, ValueError, KeyError):
        return False


def note_for_date(data: MarketDataBatch, day: dt.date, settings: Settings, langs: list[str], force: bool) -> str:
    """One date end to end (no archive page); returns 'done' or 'skipped'."""
    md = data.for_day(day)
    key = inputs_key(md, settings, langs)
    if not force and already_published(settings, day, key):
        return "skipped"
    facts = compute_facts(md, settings)
    facts["meta"]["inputs_key"] = key
    publish_note(facts, langs, settings.output_dir, version=__version__)
    return "done"


@task(task_run_name="notes from {days[0]}", timeout_seconds=3600)
def notes_for_dates(provider: Any, days: list[dt.date], settings: Settings, langs: list[str], force: bool) -> dict[str, str]:
    """A run of consecutive dates in one task: per-task costs (scheduling, state, pickling the
    provider, the font check, the archive page) and the data reads (prices, reference data,
    one flows window covering every date) are paid once per chunk, not once per date.

    Returns date -> 'done', 'skipped' or 'failed: <reason>'; one bad date does not stop the others.
    """
    logger = get_run_logger()
    check_fonts()
    data = MarketDataBatch(provider, days, history_days=settings.history_days, options_dir=settings.options_dir)
    status: dict[str, str] = {}
    for day in days:
        try:
            status[day.isoformat()] = note_for_date(data, day, settings, langs, force)
        except Exception as exc:  # noqa: BLE001 - reported per date, the backfill goes on
            status[day.isoformat()] = f"failed: {exc}"
            logger.error("%s failed: %s", day, exc)
    write_archive(settings.output_dir)
    return status


def chunks(days: list[dt.date], *, per_worker: int = 8, n_workers: int = 2, max_size: int = 8) -> list[list[dt.date]]:
    """Consecutive runs of dates: about ``per_worker`` chunks per worker (load balance and a
    live progress bar) and at most ``max_size`` dates each."""
    size = max(1, min(max_size, math.ceil(len(days) / (per_worker * n_workers))))
    return [days[i : i + size] for i in range(0, len(days), size)]


@flow(name="backfill", task_runner=ProcessPoolTaskRunner(max_workers=2))
def backfill(start: dt.date, end: dt.date, provider: str | None = None, langs: list[str] | None = None,
             force: bool = False, settings: Settings | None = None, progress: bool = False) -> dict:
    """Publish every session in ``[start, end]`` (skipping dates already built from the same inputs).

    One flow run; the dates go out in chunks (:func:`chunks`) to the task runner's workers.
    Returns a summary with per-date status, failures with their reason, and timings.
    """
    settings = settings or Settings()
    langs = list(langs or settings.langs)
    prov = get_provider(provider or settings.provider, data_dir=settings.data_dir, flows_seed=settings.flows_seed)
    first, last = prov.coverage()
    days = [d for d in sessions_between(max(start, first), min(end, last))]
    t0 = time.perf_counter()
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
