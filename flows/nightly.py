"""The note pipeline as Prefect 3 flows: fetch -> quality gate -> four analyses (concurrent)
-> facts -> narrative/render -> atomic publish.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import hashlib
import time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from nightdesk.analytics import sections as sec
from nightdesk.analytics.facts import build_facts
from nightdesk.analytics.quality import DataQualityError, quality_gate, require_coverage
from nightdesk.marketdata.base import DataError, MarketData
from nightdesk.marketdata.calendar import is_session, nyse, why_not_session
from nightdesk.marketdata.registry import data_fingerprint, get_provider, load_market_data, resolve_date
from nightdesk import __version__
from nightdesk.settings import Settings
from nightdesk.rendering.outputs import publish_note, write_archive
from nightdesk.rendering.pdf import prepare_fonts
from nightdesk.rendering.publish import ensure_writable


def _retry_io(task, task_run, state) -> bool:
    """Retry provider calls on I/O trouble, never on bad data (it fails the same way again)."""
    try:
        state.result()
    except (DataError, DataQualityError, ValueError):
        return False
    except Exception:
        return True
    return False


@task(retry_condition_fn=_retry_io, timeout_seconds=900, task_run_name="fetch {day}")
def fetch(provider: Any, day: dt.date | None, snap: bool, settings: Settings) -> MarketData:
    """Resolve the session and load its market data (``provider``: a name or a Provider)."""
    if isinstance(provider, str):
        provider = get_provider(provider, data_dir=settings.data_dir, flows_seed=settings.flows_seed)
    session = resolve_date(provider, day, snap=snap)
    return load_market_data(provider, session, history_days=settings.history_days, options_dir=settings.options_dir)


def _fetch_with_policy(settings: Settings):
    """``fetch`` with the retry schedule from settings (the one place it is defined)."""
    delays = list(settings.fetch_retry_delays_s)
    return fetch.with_options(retries=len(delays), retry_delay_seconds=delays or 0)


def members_of(md: MarketData) -> list[str]:
    """Index members with prices: the latest constituent snapshot on or before the date."""
    snaps = sorted(s for s in md.sectors["snapshot"].unique() if pd.Timestamp(s) <= pd.Timestamp(md.date)) or sorted(md.sectors["snapshot"].unique())[:1]
    latest = md.sectors[md.sectors["snapshot"] == max(md.sectors["snapshot"])]
    names = set(latest["ticker"]) | set(md.sectors.loc[md.sectors["snapshot"] == snaps[-1], "ticker"])
    return sorted(t for t in names if t in md.px_close.columns)


@task(task_run_name="quality gate")
def gate(md: MarketData) -> dict:
    """Clean returns, flags, and the coverage check on the date."""
    sessions = nyse().sessions_in_range(md.px_close.index[0], md.px_close.index[-1])
    reg = md.letf_registry.set_index("ticker")
    report = quality_gate(md.px_close, pd.DatetimeIndex(sessions), leverage=reg["leverage"], proxy=reg["underlying_proxy"])
    day = pd.Timestamp(md.date)
    members = members_of(md)
    n_usable = require_coverage(report.ret_1d, day, members)
    if "SPY" not in report.ret_1d or pd.isna(report.ret_1d.at[day, "SPY"]):
        raise DataQualityError(f"data for {md.date} not complete: SPY (the index proxy) has no usable close")
    window = report.flags[report.flags["date"] >= report.ret_1d.index[max(0, len(report.ret_1d) - 252)]]
    on_date = window[window["date"] == day]
    flags = {
        "n_window": int(len(window)),
        "by_check": {k: int(v) for k, v in window.groupby("check").size().items()},
        "on_date": [{"ticker": r.ticker, "check": r.check, "detail": r.detail} for r in on_date.itertuples()],
        "window_sample": [{"ticker": r.ticker, "date": r.date.date().isoformat(), "check": r.check, "detail": r.detail} for r in window[window["check"] == "split_like_jump"].itertuples()][:20],
    }
    return {"ret_1d": report.ret_1d, "members": members, "flags": flags, "window_flags": window, "n_usable": n_usable}


@task(task_run_name="momentum")
def momentum_task(md: MarketData, g: dict, settings: Settings) -> tuple[dict, dict]:
    day = pd.Timestamp(md.date)
    return sec.momentum_sections(g["ret_1d"], md.px_close, g["members"], g["ret_1d"]["SPY"], md.factors, [day], settings.momentum.model_dump(),
                                 etf_ret=g["ret_1d"], reference=md.reference)[day]


@task(task_run_name="rotation")
def rotation_task(md: MarketData, g: dict, legs: dict, themes: dict) -> dict:
    day = pd.Timestamp(md.date)
    return sec.rotation_sections(g["ret_1d"], md.px_close, g["members"], md.sectors, md.reference, themes, load_gics(), [day], {day: legs})[day]


@task(task_run_name="leveraged ETFs")
def letf_task(md: MarketData, g: dict) -> dict:
    day = pd.Timestamp(md.date)
    return sec.letf_sections(md.letf_registry, g["ret_1d"], md.px_close, g["members"], md.sectors, md.reference, [day], options=md.options)[day]


@task(task_run_name="flows")
def flows_task(md: MarketData, g: dict, legs: dict, january: dict | None = None) -> dict:
    day = pd.Timestamp(md.date)
    flows = md.flows[md.flows["ticker"].isin(g["members"])] if md.flows is not None else None
    january = sec.january_sections(g["ret_1d"], g["members"], [day])[day] if january is None else january
    return sec.flows_section(flows, md.flows_simulated, day, legs, january)


def _group_flows_sections(mds: list[MarketData], members: list[str], days: list[pd.Timestamp], legs: dict, january: dict) -> dict | None:
    """:func:`flows_task` for the dates of one history group (``mds`` in date order, same members):
    their windows of flow records joined into one frame and filtered once (each date still reads
    only its own window). None when the windows cannot be joined (a date without flow records,
    windows that do not overlap): each date's flows are then computed alone."""
    if any(md.flows is None or md.flows.empty or md.flows_simulated != mds[0].flows_simulated for md in mds):
        return None
    first, last = mds[0].flows, mds[-1].flows
    seam = first["date"].max()
    if last["date"].min() > seam:
        return None
    union = pd.concat([first, last[last["date"] > seam]], ignore_index=True)
    union = union[union["ticker"].isin(members)]
    starts = {t: md.flows["date"].min() for t, md in zip(days, mds)}
    return sec.flows_sections(union, mds[0].flows_simulated, days, legs, january, starts=starts)


@task(timeout_seconds=600, task_run_name="render and publish {facts[meta][date]}")
def publish(facts: dict, langs: list[str], output_dir: Path, cache_dir: Path) -> dict:
    """Render every edition into a staging folder and swap it in atomically."""
    info = publish_note(facts, langs, output_dir, version=__version__, fontconfig=prepare_fonts(cache_dir))
    write_archive(output_dir)
    return info


def hash_text(text: str) -> str:
    """Short sha256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_themes() -> dict:
    """Theme baskets from ``nightdesk/themes.toml``."""
    return tomllib.loads((resources.files("nightdesk") / "themes.toml").read_text(encoding="utf-8"))["themes"]


def load_gics() -> dict[str, str]:
    """GICS sub-industry -> industry group, from ``nightdesk/gics.toml``."""
    groups = tomllib.loads((resources.files("nightdesk") / "gics.toml").read_text(encoding="utf-8"))["industry_groups"]
    return {sub: group for group, subs in groups.items() for sub in subs}


def _meta(md: MarketData, g: dict) -> dict:
    return {
        "date": md.date.isoformat(),
        "session": "regular",
        "provider": md.provider,
        "data_as_of": md.px_close.index[-1].date().isoformat(),
        "version": __version__,
        "flags": g["flags"],
        "simulated": ["flows"] if md.flows_simulated else [],
        "sources": md.sources,
        "members": len(g["members"]),
        "survivorship_biased": md.provider == "sample",
    }


def inputs_key(md: MarketData, settings: Settings, langs: list[str]) -> str:
    """What a published note was built from: data fingerprint, code version, settings, editions."""
    cfg = settings.model_dump_json(exclude={"delivery", "output_dir", "cache_dir"})
    return f"{data_fingerprint(md)}|{__version__}|{hash_text(cfg + ','.join(langs))}"


class Shared(NamedTuple):
    """A date's results of the analyses :func:`facts_for_dates` computes for many dates at once."""

    momentum: dict
    legs: dict
    rotation: dict
    january: dict
    flows: dict | None  # None: computed per date (the group's flow windows could not be joined)
    letf: dict


def compute_facts(md: MarketData, settings: Settings, g: dict | None = None, shared: Shared | None = None) -> dict:
    """The four analyses and the facts record for one date, sequentially.

    ``g`` is the date's :func:`gate` output and ``shared`` what was already computed for it
    with other dates (:func:`facts_for_dates`).
    """
    g = gate.fn(md) if g is None else g
    if shared is None:
        mom, legs = momentum_task.fn(md, g, settings)
        rot = rotation_task.fn(md, g, legs, load_themes())
        flo = flows_task.fn(md, g, legs)
        letf = letf_task.fn(md, g)
    else:
        mom, legs, rot, january, flo, letf = shared
        flo = flows_task.fn(md, g, legs, january) if flo is None else flo
    return build_facts(_meta(md, g), mom, rot, letf, flo)


def shared_history_groups(mds: dict[dt.date, MarketData], gates: dict[dt.date, dict]) -> list[list[dt.date]]:
    """Dates whose momentum and rotation can be computed in one pass, in groups (others alone).

    Those analyses are causal: over the data up to a later date, a date's rows are what its own
    data gives, provided the inputs up to the date agree. A date joins the group of the last date
    with the same history start and members when its quality-gated returns equal that date's up
    to it (the gate looks a few sessions ahead, so they can differ) and the reference caps are
    dated on or before it (market caps are rolled from the latest close on or before the
    reference date, which must not be a later one).
    """
    keyed: dict[tuple, list[dt.date]] = {}
    for d in sorted(gates):
        keyed.setdefault((mds[d].px_close.index[0], tuple(gates[d]["members"])), []).append(d)
    groups: list[list[dt.date]] = []
    for dates in keyed.values():
        last = dates[-1]
        ret_last, ref = gates[last]["ret_1d"], mds[last].reference
        ref_day = pd.to_datetime(ref["as_of"]).max() if "as_of" in ref and len(ref) else pd.Timestamp.min
        joins = [last]
        for d in dates[:-1]:
            mine, theirs = gates[d]["ret_1d"], ret_last.loc[: pd.Timestamp(d)]
            same = (ref_day <= pd.Timestamp(d) and mine.index.equals(theirs.index) and mine.columns.equals(theirs.columns)
                    and np.array_equal(mine.to_numpy(), theirs.to_numpy(), equal_nan=True))
            if same:
                joins.append(d)
            else:
                groups.append([d])
        groups.append(sorted(joins))
    return sorted(groups)


def facts_for_dates(mds: dict[dt.date, MarketData], settings: Settings) -> dict[dt.date, dict | Exception]:
    """The facts records of many dates (date -> its data), each equal to what
    :func:`compute_facts` gives it alone.

    Momentum baskets, rotation panels, the January study, the flows section and the LETF
    section's caps and sector maps are computed once per group of :func:`shared_history_groups`;
    the LETF flows (each date's AUM is rolled as of itself) and any date outside a group, per
    date. A date that cannot be computed gets its exception (the others go on).
    """
    gates: dict[dt.date, dict] = {}
    out: dict[dt.date, dict | Exception] = {}
    for d, md in mds.items():
        try:
            gates[d] = gate.fn(md)
        except Exception as exc:  # noqa: BLE001 - reported per date
            out[d] = exc
    params, themes = settings.momentum.model_dump(), load_themes()
    for group in shared_history_groups(mds, gates):
        stamps = [pd.Timestamp(d) for d in group]
        md, g = mds[group[-1]], gates[group[-1]]
        shared = None
        if len(group) > 1:
            try:
                mom = sec.momentum_sections(g["ret_1d"], md.px_close, g["members"], g["ret_1d"]["SPY"], md.factors, stamps, params,
                                            etf_ret=g["ret_1d"], reference=md.reference)
                legs = {t: mom[t][1] for t in stamps}
                rot = sec.rotation_sections(g["ret_1d"], md.px_close, g["members"], md.sectors, md.reference, themes, load_gics(), stamps, legs)
                jan = sec.january_sections(g["ret_1d"], g["members"], stamps)
                flo = _group_flows_sections([mds[d] for d in group], g["members"], stamps, legs, jan)
                letf = sec.letf_sections(md.letf_registry, g["ret_1d"], md.px_close, g["members"], md.sectors, md.reference, stamps,
                                         options={t: mds[d].options for d, t in zip(group, stamps)}, as_of_each_day=True)
                shared = {t: Shared(*mom[t], rot[t], jan[t], None if flo is None else flo[t], letf[t]) for t in stamps}
            except Exception:  # noqa: BLE001 - e.g. a date short of history: each date alone says which and why
                shared = None
        for d, t in zip(group, stamps):
            try:
                out[d] = compute_facts(mds[d], settings, gates[d], None if shared is None else shared[t])
            except Exception as exc:  # noqa: BLE001 - reported per date
                out[d] = exc
    return {d: out[d] for d in mds}


@flow(name="regenerate-note", log_prints=False)
def regenerate_note(date: dt.date | None = None, provider: Any = None, langs: list[str] | None = None, snap: bool = False, settings: Settings | None = None) -> dict:
    """Build and publish the note for ``date`` (default: the provider's latest session)."""
    settings = settings or Settings()
    logger = get_run_logger()
    ensure_writable(settings.output_dir)
    md = _fetch_with_policy(settings)(provider or settings.provider, date, snap, settings)
    g = gate(md)
    mom_future = momentum_task.submit(md, g, settings)
    letf_future = letf_task.submit(md, g)
    mom, legs = mom_future.result()
    rot_future = rotation_task.submit(md, g, legs, load_themes())
    flows_future = flows_task.submit(md, g, legs)
    langs = list(langs or settings.langs)
    meta = {**_meta(md, g), "inputs_key": inputs_key(md, settings, langs)}
    facts = build_facts(meta, mom, rot_future.result(), letf_future.result(), flows_future.result())
    info = publish(facts, langs, settings.output_dir, settings.cache_dir)
    m, l = facts["momentum"], facts["letf"]
    create_markdown_artifact(
        key="nightdesk-note",
        markdown=f"## {facts['meta']['date']}\n\n{info['headline']}\n\n| figure | value |\n|---|---|\n| L/S % | {m['ls_ret_pct']:.2f} |\n| L/S z | {m['ls_z']:.2f} |\n| breadth % | {facts['rotation']['breadth_pct_beating_index']:.1f} |\n| LETF flow $bn | {l['rebalance_total_usd'] / 1e9:.2f} |\n\nOutputs: `{info['folder']}`",
        description=f"nightdesk note {facts['meta']['date']}",
    )
    logger.info("published %s: %s", facts["meta"]["date"], info["headline"])
    return {"date": facts["meta"]["date"], **info}


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
            return regenerate_note(today, provider, None, False, settings)
        except (DataError, DataQualityError) as exc:
            late = "beyond the provider's data" in str(exc) or "not complete" in str(exc)
            if not late or time.monotonic() >= deadline:
                raise DataError(f"data for {today.isoformat()} not complete: {exc}") from None
            logger.warning("data for %s not complete yet (%s); retrying in %ss", today, exc, settings.late_data_poll_s)
            time.sleep(settings.late_data_poll_s)
