"""Backfill many dates in one flow run: concurrent tasks (a process pool, or Dask), resumable.

Processes, not threads: the work is CPU-bound and matplotlib's pyplot state is per process.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.task_runners import ProcessPoolTaskRunner

from flows.nightly import compute_facts, inputs_key, publish
from marketdata.calendar import sessions_between
from marketdata.registry import get_provider, load_market_data
from nightdesk.settings import Settings
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


@task(task_run_name="note {day}")
def note_for_date(provider: Any, day: dt.date, settings: Settings, langs: list[str], force: bool) -> str:
    """One date end to end; returns 'done' or 'skipped'."""
    md = load_market_data(provider, day, history_days=settings.history_days, options_dir=settings.options_dir)
    key = inputs_key(md, settings, langs)
    if not force and already_published(settings, day, key):
        return "skipped"
    facts = compute_facts(md, settings)
    facts["meta"]["inputs_key"] = key
    publish.fn(facts, langs, settings.output_dir)
    return "done"


@flow(name="backfill", task_runner=ProcessPoolTaskRunner(max_workers=2))
def backfill(start: dt.date, end: dt.date, provider: str | None = None, langs: list[str] | None = None,
             force: bool = False, settings: Settings | None = None, progress: bool = False) -> dict:
    """Publish every session in ``[start, end]`` (skipping dates already built from the same inputs).

    Returns a summary with per-date status, failures with their reason, and timings.
    """
    settings = settings or Settings()
    langs = list(langs or settings.langs)
    prov = get_provider(provider or settings.provider, data_dir=settings.data_dir, flows_seed=settings.flows_seed)
    first, last = prov.coverage()
    days = [d for d in sessions_between(max(start, first), min(end, last))]
    t0 = time.perf_counter()
    futures = {d: note_for_date.submit(prov, d, settings, langs, force) for d in days}
    status: dict[str, str] = {}
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"), TimeRemainingColumn())
        bar.start()
        tid = bar.add_task("dates", total=len(days), info="")
    for d, fut in futures.items():
        try:
            status[d.isoformat()] = fut.result()
        except Exception as exc:  # noqa: BLE001 - reported per date, the backfill goes on
            status[d.isoformat()] = f"failed: {exc}"
        if bar is not None:
            counts = {k: sum(1 for v in status.values() if v.startswith(k)) for k in ("done", "skipped", "failed")}
            bar.update(tid, advance=1, info=f"done {counts['done']} skipped {counts['skipped']} failed {counts['failed']}")
    if bar is not None:
        bar.stop()
    elapsed = time.perf_counter() - t0
    summary = {
        "dates": len(days),
        "done": sum(v == "done" for v in status.values()),
        "skipped": sum(v == "skipped" for v in status.values()),
        "failed": {k: v for k, v in status.items() if v.startswith("failed")},
        "elapsed_s": round(elapsed, 1),
        "per_date_s": round(elapsed / max(1, len(days)), 2),
    }
    get_run_logger().info("backfill %s..%s: %s", start, end, summary)
    return summary


def dask_backfill(address: str | None = None):
    """The backfill flow on a Dask cluster (``pip install 'nightdesk[dask]'``); local cluster when no address."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise RuntimeError("--dask needs the optional package: pip install 'nightdesk[dask]'") from None
    runner = DaskTaskRunner(address=address) if address else DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1})
    return backfill.with_options(task_runner=runner)
