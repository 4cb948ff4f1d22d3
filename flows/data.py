"""Data upkeep as Prefect flows: append new sessions to the store, refresh reference data.

``data-update`` appends the sessions the store lacks from the configured source (Yahoo or a
vendor drop), checked first (coverage of the index members on each new session, the quality
gate's flags reported), in one atomic commit. ``refresh-<what>`` replaces one reference table
(index membership, shares/caps, LETF AUM, Ken French factors) from its adapter or a vendor file.
Each has its own schedule (``settings.refresh.<what>.cron``; the update runs with the nightly
note). The command line calls the same functions without Prefect (``nightdesk data ...``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task

from nightdesk.analytics.quality import quality_gate
from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.calendar import last_closed_session, nyse, sessions_between
from nightdesk.marketdata.directory import SAMPLE_DIR
from nightdesk.marketdata.refresh import REFRESHERS, refresh_table
from nightdesk.marketdata.registry import get_provider
from nightdesk.marketdata.store import Commit, Store
from nightdesk.settings import Settings

CLOSE_SETTLE_S = 1800.0
"""Closes are asked for no sooner than this after the bell (sources publish the official close late)."""
READJUST_TOL = 2e-6
"""Relative difference of an overlap close (both as float32) above which a ticker's history is re-adjusted."""


@dataclass
class UpdateReport:
    """What ``data update`` did."""

    store_last_before: dt.date | None
    store_last_after: dt.date | None
    appended: list[dt.date] = field(default_factory=list)
    seeded: bool = False
    refused: dict[str, str] = field(default_factory=dict)  # session -> why its data was refused (it and those after it not appended)
    unavailable: list[dt.date] = field(default_factory=list)  # sessions the source has no closes for yet (nothing wrong)
    flags: list[dict] = field(default_factory=list)  # quality-gate flags on the appended sessions (kept; the note excludes them)
    readjusted: dict[str, float] = field(default_factory=dict)
    generation: int | None = None


def source_provider(settings: Settings, name: str | None = None):
    """The provider ``data update`` takes new sessions from (``settings.store.source``)."""
    name = name or settings.store.source
    if name == "store":
        raise DataError("store.source: the store cannot update from itself; choose yfinance, parquet, csv or sample")
    return get_provider(name, data_dir=settings.store.source_dir or settings.data_dir, flows_seed=settings.flows_seed)


def _fetch(provider, start: dt.date, end: dt.date) -> pd.DataFrame:
    if hasattr(provider, "download"):  # yfinance: only the window, not twelve years
        return provider.download(start, end)
    return provider.prices(start, end)


def members_on(sectors: pd.DataFrame, day: dt.date) -> list[str]:
    """Index members of the latest constituent snapshot on or before ``day`` (the earliest when none is)."""
    snaps = sorted(sectors["snapshot"].unique())
    usable = [s for s in snaps if pd.Timestamp(s) <= pd.Timestamp(day)] or snaps[:1]
    return sorted(sectors.loc[sectors["snapshot"] == usable[-1], "ticker"])


def check_new_sessions(stored_tail: pd.DataFrame, new: pd.DataFrame, sectors: pd.DataFrame, registry: pd.DataFrame,
                       *, min_coverage: float) -> tuple[pd.DataFrame, dict[str, str], list[dict]]:
    """The new sessions that may be appended, why the rest may not, and the gate's flags on them.

    A session is refused, with every session after it (the store has no gaps), when SPY or more
    than ``1 - min_coverage`` of the index members have no positive close. Flags of the quality
    gate (stale closes, split-like jumps) are reported, not removed: the note's own gate excludes them.
    """
    refused: dict[str, str] = {}
    ok_rows = []
    for day in new.index:
        row = new.loc[day]
        members = [t for t in members_on(sectors, day.date()) if t in stored_tail.columns or t in new.columns]
        have = row.reindex(members)
        n_ok = int(((have > 0) & np.isfinite(have)).sum())
        spy = row.get("SPY", np.nan)
        if not (np.isfinite(spy) and spy > 0):
            refused[day.date().isoformat()] = "SPY has no close"
            break
        if n_ok < min_coverage * len(members):
            refused[day.date().isoformat()] = f"only {n_ok} of {len(members)} index members have a close (need {min_coverage:.0%})"
            break
        ok_rows.append(day)
    accepted = new.loc[ok_rows]
    flags: list[dict] = []
    if len(accepted):
        panel = pd.concat([stored_tail, accepted]).astype("float64")
        sessions = pd.DatetimeIndex(sessions_between(panel.index[0].date(), panel.index[-1].date()))
        reg = registry.drop_duplicates("ticker").set_index("ticker")
        report = quality_gate(panel, sessions, leverage=reg["leverage"], proxy=reg["underlying_proxy"])
        on_new = report.flags[report.flags["date"] >= accepted.index[0]]
        flags = [{"date": r.date.date().isoformat(), "ticker": r.ticker, "check": r.check, "detail": r.detail} for r in on_new.itertuples()]
    return accepted, refused, flags


def readjust_factors(stored_last: pd.Series, source_last: pd.Series) -> dict[str, float]:
    """Ticker -> factor the stored history needs so the source's adjusted close on the same session matches.

    Yahoo's adjusted closes are restated back in time at every split and dividend; a store that
    only appended would show the split as a one-day crash. Compared in float32, the store's precision.
    """
    a = stored_last.astype("float32").astype("float64")
    b = source_last.reindex(a.index).astype("float32").astype("float64")
    ok = (a > 0) & (b > 0) & np.isfinite(a) & np.isfinite(b)
    ratio = (b[ok] / a[ok])
    moved = ratio[(ratio - 1).abs() > READJUST_TOL]
    return {str(t): float(f) for t, f in moved.items()}


def update_store(settings: Settings, through: dt.date | None = None, *, source: str | None = None,
                 now: dt.datetime | None = None) -> UpdateReport:
    """Append the sessions after the store's last one up to ``through`` in one commit.

    Only sessions whose close is final at ``now`` (default: the clock) are asked for, so an update
    run during a session never stores a running price as a close; ``through`` defaults to the
    last such session. A cold store (no manifest) is first seeded from the bundled sample. Nothing
    is written when there is nothing to append; a session failing the coverage check stops the
    update there (``refused``); sessions the source does not have yet are listed (``unavailable``).
    """
    store = Store(settings.store.dir)
    seeded = False
    if not store.exists():
        store.seed(SAMPLE_DIR)
        seeded = True
    m = store.manifest()
    last = dt.date.fromisoformat(m["prices"]["last"])
    closed = last_closed_session(now or dt.datetime.now(dt.timezone.utc), settle_s=CLOSE_SETTLE_S)
    through = min(through or closed, closed)
    report = UpdateReport(last, last, seeded=seeded, generation=m["generation"])
    wanted = [d for d in sessions_between(last + dt.timedelta(days=1), through)] if through > last else []
    if not wanted:
        return report
    provider = source_provider(settings, source)
    name = source or settings.store.source
    fetched = _fetch(provider, last, wanted[-1])  # from the store's last session: the overlap shows re-adjustments
    fetched = fetched[~fetched.index.duplicated(keep="last")].sort_index()
    overlap = fetched.loc[fetched.index == pd.Timestamp(last)]
    new = fetched.loc[fetched.index.isin(pd.DatetimeIndex([pd.Timestamp(d) for d in wanted]))]
    have = set(new.index.date)
    first_gap = next((d for d in wanted if d not in have), None)
    if first_gap is not None:  # no holes: stop before the first session the source lacks
        report.unavailable = [d for d in wanted if d >= first_gap]
        new = new.loc[new.index < pd.Timestamp(first_gap)]
    if new.empty:
        return report
    tail = store.read_prices(last - dt.timedelta(days=450), last, manifest=m).iloc[-300:]  # the gate's look-back
    ref = {t: store.read_table(t, manifest=m) for t in ("sectors", "letf_registry")}
    accepted, refused, flags = check_new_sessions(tail, new, ref["sectors"], ref["letf_registry"], min_coverage=settings.store.min_coverage)
    report.refused.update(refused)
    report.flags = flags
    if accepted.empty:
        return report
    if len(overlap):
        report.readjusted = readjust_factors(tail.iloc[-1], overlap.iloc[-1])
    commit: Commit = store.append_prices(accepted, source=name, readjust=report.readjusted)
    report.appended = [d.date() for d in accepted.index]
    report.store_last_after = report.appended[-1]
    report.generation = commit.generation
    return report


@task(task_run_name="append sessions through {through}")
def update_store_task(settings: Settings, through: dt.date | None = None) -> UpdateReport:
    """:func:`update_store` as a task (the nightly flow runs it before reading the store)."""
    return update_store(settings, through)


@flow(name="data-update")
def data_update(through: dt.date | None = None, settings: Settings | None = None) -> dict:
    """Append the sessions the store lacks; the summary says what was appended, refused and flagged."""
    settings = settings or Settings()
    rep = update_store_task(settings, through)
    log = get_run_logger()
    log.info("store %s: %d sessions appended (last %s)", settings.store.dir, len(rep.appended), rep.store_last_after)
    for day, why in rep.refused.items():
        log.warning("session %s not appended: %s", day, why)
    return {"appended": [d.isoformat() for d in rep.appended], "refused": rep.refused, "flags": len(rep.flags),
            "unavailable": [d.isoformat() for d in rep.unavailable],
            "last": rep.store_last_after.isoformat() if rep.store_last_after else None}


@task(task_run_name="refresh {what}")
def refresh_task(what: str, settings: Settings) -> dict:
    """Refresh one reference table (:func:`marketdata.refresh.refresh_table`)."""
    return refresh_table(what, settings).as_dict()


@flow(name="refresh-reference")
def refresh_reference(what: str, settings: Settings | None = None) -> dict:
    """Refresh one of ``membership``, ``caps``, ``letf_aum``, ``factors`` in the store."""
    settings = settings or Settings()
    if what not in REFRESHERS:
        raise DataError(f"unknown reference input {what!r}; one of {', '.join(REFRESHERS)}")
    out = refresh_task(what, settings)
    get_run_logger().info("refreshed %s: %s", what, out["summary"])
    return out


def data_deployments(settings: Settings) -> list:
    """One deployment per reference refresh, each on its own cron (America/New_York)."""
    from prefect.schedules import Cron

    return [refresh_reference.to_deployment(name=f"refresh-{what.replace('_', '-')}", parameters={"what": what},
                                             schedule=Cron(getattr(settings.refresh, what).cron, timezone="America/New_York"))
            for what in REFRESHERS]
