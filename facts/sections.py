"""Each analysis composed into its section of the facts record, for one or many dates.

Every function takes a :class:`History` (the data shared by the dates: that of the last one,
after the quality gate) and the dates, and returns date -> plain, JSON-ready section data
(validated into :mod:`nightdesk.facts.record` by the caller). The analyses are causal, so over
the last date's data each date reads its own rows; :mod:`nightdesk.facts.build` decides which
dates may share a history. One date is a list of one.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from nightdesk.analytics import flows as fl
from nightdesk.analytics import letf as lf
from nightdesk.analytics import momentum as mo
from nightdesk.analytics import rotation as ro
from nightdesk.analytics.quality import DataQualityError
from nightdesk.facts.gate import Gate
from nightdesk.marketdata.base import MarketData

SECTOR_ETFS = ["XLK", "XLC", "XLY", "XLF", "XLI", "XLB", "XLE", "XLV", "XLP", "XLU", "XLRE", "SMH", "SOXX"]
CAP_WEIGHTED_MIN_NAMES = 50
"""Below this many names with a market cap, the cap-weighted cross-check is left out."""


@dataclass(frozen=True)
class History:
    """What the dates of a group share: the data of the group's last date and its gate."""

    md: MarketData
    gate: Gate

    @property
    def members(self) -> list[str]:
        return self.gate.members

    @property
    def ret_1d(self) -> pd.DataFrame:
        return self.gate.ret_1d


@dataclass(frozen=True)
class Legs:
    """A date's momentum baskets (weights by ticker), which rotation and flows read."""

    w_long: pd.Series
    w_short: pd.Series


def _num(x: Any, nd: int = 6) -> Any:
    """JSON-safe number: NaN/inf -> None, numpy -> Python, rounded to ``nd`` decimals."""
    if x is None:
        return None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else round(float(x), nd)
    return x


def clean(obj: Any) -> Any:
    """Recursively make ``obj`` JSON-safe (see :func:`_num`; timestamps become ISO dates)."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, pd.Timestamp):
        return obj.date().isoformat()
    return _num(obj)


# ---------------------------------------------------------------- momentum
def _study(ls: pd.Series, events: pd.DatetimeIndex, rule: dict, today_qualifies: bool) -> tuple[dict, pd.DataFrame]:
    """The event study of ``events`` in ``ls`` (JSON-ready) and the L/S paths after them."""
    summary, table = mo.event_study(ls, events)
    paths = mo.forward_paths(ls, events)
    out = {
        "rule": rule,
        "today_qualifies": today_qualifies,
        "since_year": int(ls.dropna().index[0].year),
        "n_events": int(summary["n"].iloc[0]),
        "horizons": {str(h): row for h, row in summary.to_dict(orient="index").items()},
        "events": [
            {"date": d.date().isoformat(), "event_ret_pct": r["event_ret_pct"], "fwd_21d_pct": r["fwd_21d_pct"], "fwd_63d_pct": r["fwd_63d_pct"], "ptt_pct": r["ptt_pct"]}
            for d, r in table.set_index("date").iterrows()
        ]
        if len(table)
        else [],
        "small_sample": bool(summary["n"].iloc[0] < 10),
    }
    return out, paths


def _large_rule(ls: pd.Series, long: pd.Series | None, side: str, params: dict, trigger_ls_pct: float) -> tuple[pd.DatetimeIndex, dict]:
    """Events under the large-move rule on ``side`` (the % rule, or its z fallback) and the rule."""
    trigger_long = params["trigger_long_pct"] if long is not None else None
    events, kind = mo.find_events(ls, long, side=side, trigger_ls_pct=trigger_ls_pct, trigger_long_pct=trigger_long,
                                  z_fallback=params["trigger_z_fallback"], z_window_days=params["z_window_days"],
                                  min_events=params["min_events"], decluster_days=params["decluster_days"])
    sign = -1.0 if side == "down" else 1.0
    rule = {"kind": kind, "side": side, "ls_pct": sign * abs(trigger_ls_pct), "long_pct": None if trigger_long is None else sign * abs(trigger_long),
            "z_from": sign * abs(params["trigger_z_fallback"]), "z_to": None}
    return events, rule


def _band_rule(ls: pd.Series, side: str, params: dict, z_from: float) -> tuple[pd.DatetimeIndex, dict]:
    """Events whose |z| lies between the story threshold and the large-move z (same side)."""
    z_to = abs(params["trigger_z_fallback"])
    events = mo.find_band_events(ls, side=side, z_from=z_from, z_to=z_to, z_window_days=params["z_window_days"], decluster_days=params["decluster_days"])
    sign = -1.0 if side == "down" else 1.0
    return events, {"kind": "z_band", "side": side, "ls_pct": None, "long_pct": None, "z_from": sign * z_from, "z_to": sign * z_to}


def _qualifies(rule: dict, ls_pct: float, long_pct: float | None, z: float) -> bool:
    """Does today meet ``rule`` (its own figures: L/S and long leg in %, z)?"""
    s = -1.0 if rule["side"] == "down" else 1.0
    if rule["kind"] == "pct":
        return s * ls_pct >= abs(rule["ls_pct"]) and (rule["long_pct"] is None or (long_pct is not None and s * long_pct >= abs(rule["long_pct"])))
    if rule["kind"] == "z":
        return s * z >= abs(rule["z_from"])
    return abs(rule["z_from"]) <= s * z < abs(rule["z_to"])


def _history(ls: pd.Series, long: pd.Series, umd: pd.Series, stats, params: dict, story_z: float, umd_day_pct: float | None):
    """Event studies that fit the day: past large crashes on a large crash day, past rallies on a
    rally day; for a momentum day short of the large rule, days of its own |z| band; none on
    other days. Returns the history section and the panel's forward paths."""
    z = stats.ls_z
    if not abs(z) >= story_z:
        return {"side": None, "tier": None, "panel": None, "umd": None}, pd.DataFrame()
    side = "down" if z < 0 else "up"
    events, rule = _large_rule(ls, long, side, params, params["trigger_ls_pct"])
    tier = "large"
    if not _qualifies(rule, stats.ls_ret_pct, stats.long_ret_pct, z):
        tier = "band"
        events, rule = _band_rule(ls, side, params, story_z)
        if not _qualifies(rule, stats.ls_ret_pct, stats.long_ret_pct, z):
            return {"side": side, "tier": None, "panel": None, "umd": None}, pd.DataFrame()
    panel, paths = _study(ls, events, rule, True)
    if tier == "large":
        u_events, u_rule = _large_rule(umd, None, side, params, UMD_TRIGGER_PCT)
    else:
        u_events, u_rule = _band_rule(umd, side, params, story_z)
    umd_z = float(mo.rolling_z(umd, params["z_window_days"]).iloc[-1]) if umd_day_pct is not None and len(umd) else float("nan")
    u_today = umd_day_pct is not None and _qualifies(u_rule, umd_day_pct, None, umd_z)
    umd_study, _ = _study(umd, u_events, u_rule, bool(u_today))
    return {"side": side, "tier": tier, "panel": panel, "umd": umd_study}, paths


UMD_TRIGGER_PCT = 4.0
"""The UMD record's large-move rule: a daily UMD return of at least 4% (either side)."""


def _cap_weighted_baskets(r: pd.DataFrame, px: pd.DataFrame, scale: pd.Series, params: dict, score: pd.DataFrame) -> pd.DataFrame | None:
    """:func:`analytics.momentum.basket_returns` of the baskets cap-weighted (caps = close x ``scale``,
    the shares proxy); None with too few names to weight."""
    names = [t for t in r.columns if t in scale.index]
    if len(names) < CAP_WEIGHTED_MIN_NAMES:
        return None
    caps = px[names] * scale[names]
    wl, ws = mo.basket_weights(r[names], px[names], lookback_days=params["lookback_days"], skip_days=params["skip_days"],
                               quantile=params["quantile"], min_price_usd=params["min_price_usd"], cap_usd=caps, score=score)
    return mo.basket_returns(r[names], wl, ws)


def ls_history_needed(z_window_days: int) -> int:
    """Sessions of L/S history (the date included) the day's z-score needs: 80% of its window.

    Parameters
    ----------
    z_window_days : int
        The trailing window of the L/S volatility, sessions.

    Returns
    -------
    int
        The fewest L/S sessions a note can be computed from.
    """
    return int(z_window_days * 0.8) + 1


def first_note_session(sessions: list[dt.date], lookback_days: int, z_window_days: int) -> dt.date | None:
    """No session of ``sessions`` (the provider's, in order) before this one can have a note:
    ``lookback_days`` to form the first baskets, then :func:`ls_history_needed` of L/S returns.

    A lower bound: the first baskets form at a month end, so the first note may come up to a
    month later (the momentum facts then name the exact shortfall). ``None`` when the sessions
    are too few.
    """
    i = lookback_days + ls_history_needed(z_window_days)
    return sessions[i] if i < len(sessions) else None


def momentum_sections(h: History, days: list[pd.Timestamp], params: dict, story_z: float) -> dict[pd.Timestamp, tuple[dict, Legs]]:
    """The momentum section and the baskets of each date.

    Scores, equal-weight baskets and their returns are computed once over the history; the
    cap-weighted cross-check per date, with its shares proxy rolled from the last close on or
    before that date (:func:`analytics.rotation.shares_proxy`), never a later one.

    Parameters
    ----------
    params : dict
        :class:`nightdesk.settings.MomentumSettings` as a dict.
    story_z : float
        |L/S z| of a momentum story: the event studies are computed for such days only.

    Raises
    ------
    DataQualityError
        Too little L/S history before a date for its z-score.
    """
    md, ret_1d = h.md, h.ret_1d
    r_all = ret_1d[h.members].loc[: days[-1]]
    px_all = md.px_close[h.members].loc[: days[-1]]
    score = mo.momentum_score(r_all, lookback_days=params["lookback_days"], skip_days=params["skip_days"])
    w_long, w_short = mo.basket_weights(
        r_all, px_all, lookback_days=params["lookback_days"], skip_days=params["skip_days"],
        quantile=params["quantile"], min_price_usd=params["min_price_usd"], score=score,
    )
    baskets_all = mo.basket_returns(r_all, w_long, w_short)
    umd_all = md.factors["mom"].dropna() / 100
    need = ls_history_needed(params["z_window_days"])
    last_scale, last_cw = None, None
    out = {}
    for day in days:
        baskets = baskets_all.loc[:day]
        n_ls = int(baskets["ls_ret"].notna().sum())
        if n_ls < need or pd.isna(baskets["ls_ret"].get(day)):
            raise DataQualityError(
                f"momentum for {day.date()}: only {n_ls} sessions of L/S history before the date; the z-score needs {need} "
                f"(plus {params['lookback_days']} sessions to form the first baskets): pick a later date or load more history"
            )
        stats = mo.day_stats(baskets, day, z_window_days=params["z_window_days"])
        # market caps rolled from the reference date by price, with the date's own shares proxy;
        # the cap-weighted baskets (causal) are recomputed only when that proxy changes
        scale = ro.shares_proxy(md.reference, px_all.loc[:day])
        if last_scale is None or not scale.equals(last_scale):
            last_scale, last_cw = scale, _cap_weighted_baskets(r_all, px_all, scale, params, score)
        cw = None
        if last_cw is not None:
            c = mo.day_stats(last_cw, day, z_window_days=params["z_window_days"])
            cw = {"long_ret_pct": c.long_ret_pct, "short_ret_pct": c.short_ret_pct, "ls_ret_pct": c.ls_ret_pct, "ls_z": c.ls_z}
        index_ret_pct = 100 * float(ret_1d.at[day, "SPY"])
        ls = baskets["ls_ret"].dropna()
        umd_day = float(md.factors["mom"].get(day, np.nan)) if day in md.factors.index else None
        history, panel_paths = _history(ls, baskets["long_ret"].reindex(ls.index), umd_all.loc[:day], stats, params, story_z,
                                        umd_day if umd_day is not None and np.isfinite(umd_day) else None)
        mtum, spy = (ret_1d[t].get(day) if t in ret_1d else None for t in ("MTUM", "SPY"))
        cum = (1 + ls.iloc[-756:]).cumprod()
        counts, edges = np.histogram(100 * ls.to_numpy(), bins=60)
        q = panel_paths.quantile([0.25, 0.5, 0.75], axis=1).T if panel_paths.shape[1] else pd.DataFrame()
        section = {
            **asdict(stats),
            "cap_weighted": cw,
            "index_ret_pct": index_ret_pct,
            "params": {k: params[k] for k in ("lookback_days", "skip_days", "quantile", "min_price_usd", "z_window_days", "decluster_days")},
            "history": history,
            "worst_days": [clean(r) for r in mo.worst_days(baskets).to_dict(orient="records")],
            "cross_check": {
                "umd_pct": umd_day,
                "mtum_minus_spy_pct": 100 * float(mtum - spy) if mtum is not None and spy is not None and pd.notna(mtum) and pd.notna(spy) else None,
            },
            "series": {
                "ls_cum_dates": [d.date().isoformat() for d in cum.index],
                "ls_cum_pct": list(100 * (cum / cum.iloc[0] - 1)),
                "ls_hist_edges_pct": list(edges),
                "ls_hist_counts": [int(c) for c in counts],
                "fwd_path_q25_pct": list(q[0.25]) if len(q) else [],
                "fwd_path_med_pct": list(q[0.5]) if len(q) else [],
                "fwd_path_q75_pct": list(q[0.75]) if len(q) else [],
            },
        }
        out[day] = (clean(section), Legs(w_long=w_long.loc[day], w_short=w_short.loc[day]))
    return out


# ---------------------------------------------------------------- rotation
def _rows(table: pd.DataFrame) -> list[dict]:
    return [{"key": k, **v} for k, v in table.to_dict(orient="index").items()]


def rotation_sections(h: History, days: list[pd.Timestamp], legs: dict[pd.Timestamp, Legs], themes: dict[str, dict],
                      hierarchy: dict[str, str], *, window_days: int = 252) -> dict[pd.Timestamp, dict]:
    """Breadth, sectors, industry groups, themes, sector ETFs, the rotation ranking and the
    momentum legs' sector mix, for each date.

    Every statistic is computed once over the dates' common window (vectorised over dates);
    sector and industry-group membership is point in time: one panel per constituent snapshot.

    Parameters
    ----------
    themes : dict
        :func:`nightdesk.tables.load_themes`.
    hierarchy : dict
        GICS sub-industry -> industry group (:func:`nightdesk.tables.load_gics`).
    """
    md, ret_1d, members = h.md, h.ret_1d, h.members
    # a year of percentile window, each point of which needs up to 200 sessions (the 200-day average) before it
    lo = max(0, ret_1d.index.get_loc(days[0]) - window_days - 201)
    ret = ret_1d.iloc[lo : ret_1d.index.get_loc(days[-1]) + 1]
    r = ret[members]
    cap_prev = ro.cap_prev_usd(md.reference, md.px_close[members]).reindex(ret.index)
    breadth = ro.breadth_panel(r, ret["SPY"], cap_prev, rsp_ret=ret.get("RSP"), window_days=window_days)
    themes_panel = ro.group_panel(r, {k: v["tickers"] for k, v in themes.items()}, window_days=window_days)
    etfs_panel = ro.group_panel(ret, {t: [t] for t in SECTOR_ETFS if t in ret.columns}, window_days=window_days, min_members=1)
    maps = ro.sector_maps(md.sectors, days, members)
    snapshot = {d: str(maps[d]["snapshot"].mode().iloc[0]) for d in days}
    sector_panels: dict[str, dict] = {}
    ig_panels: dict[str, dict] = {}
    for d in days:  # one panel per constituent snapshot in force
        if snapshot[d] not in sector_panels:
            smap = maps[d]
            groups = {s: list(smap.index[smap["sector"] == s]) for s in sorted(smap["sector"].dropna().unique())}
            sector_panels[snapshot[d]] = ro.group_panel(r, groups, window_days=window_days)
            ig_panels[snapshot[d]] = ro.group_panel(r, ro.industry_groups(smap["sub_industry"].dropna(), hierarchy), window_days=window_days)
    share = breadth["breadth_pct_beating_index"]
    out = {}
    for d in days:
        sec = ro.group_rows(sector_panels[snapshot[d]], d)
        th = ro.group_rows(themes_panel, d)
        th["name_en"] = [themes[t]["en"] for t in th.index]
        th["name_zh"] = [themes[t]["zh"] for t in th.index]
        etfs = ro.group_rows(etfs_panel, d)
        etfs = etfs.loc[etfs["sufficient"], ["ret_1d_pct", "ret_5d_pct", "ret_20d_pct", "z"]]
        out_of, into = ro.rank_rotation(pd.concat([sec.assign(kind="sector"), th.assign(kind="theme")]))
        mix = ro.leg_sector_mix(legs[d].w_long, legs[d].w_short, maps[d]["sector"])
        hist = share.loc[:d].iloc[-(window_days + 1) :]
        ranks = {f"{col}_rank": dict(zip(("low", "high", "of"), ro.rank_of_last(breadth[col].loc[:d].iloc[-window_days:].to_numpy(float))))
                 for col in ("breadth_pct_beating_index", "ew_minus_cw_pct")}
        out[d] = clean(
            {
                **breadth.loc[d].to_dict(),
                **ranks,
                **{f: int(breadth.at[d, f]) for f in ("advancers", "decliners", "n_members")},
                "sectors": _rows(sec),
                "industry_groups": _rows(ro.group_rows(ig_panels[snapshot[d]], d)),
                "themes": _rows(th),
                "sector_etfs": _rows(etfs),
                "out_of": _rows(out_of),
                "into": _rows(into),
                "leg_sector_mix": _rows(mix),
                "sector_snapshot": snapshot[d],
                "series": {"breadth_dates": [x.date().isoformat() for x in hist.index], "breadth_pct": list(hist)},
            }
        )
    return out


# ---------------------------------------------------------------- leveraged ETFs
def letf_sections(h: History, days: list[pd.Timestamp], options: dict[pd.Timestamp, pd.DataFrame | None]) -> dict[pd.Timestamp, dict]:
    """Rebalancing totals, by underlying, pass-through to stocks, gamma and scenarios, for each date.

    Member caps and the proxies' member masks are computed once; each date's fund AUM is rolled
    with the closes up to that date only (as alone), for it and the four sessions before it.
    ``options``: each date's SPY open interest (None: dealer gamma not covered).
    """
    md, ret_1d, members = h.md, h.ret_1d, h.members
    sessions = ret_1d.index
    earlier = {d: list(sessions[: sessions.get_loc(d)][-4:]) for d in days}
    caps_prev = ro.cap_prev_usd(md.reference, md.px_close[[m for m in members if m in md.px_close.columns]])
    maps = ro.sector_maps(md.sectors, days, list(caps_prev.columns))
    masks: dict[str, pd.DataFrame] = {}
    out = {}
    for day in days:
        aum = lf.rolled_aum_usd_many(md.letf_registry, md.px_close, [*earlier[day], day], as_of=day)
        flows = {s: lf.fund_flows(md.letf_registry, ret_1d, aum[s], s) for s in aum}
        totals = {s: lf.totals(f) for s, f in flows.items()}
        f, tot = flows[day], totals[day]
        snap = str(maps[day]["snapshot"].mode().iloc[0])
        if snap not in masks:  # one per constituent snapshot in force
            masks[snap] = lf.universe_masks(md.reference, maps[day])
        stocks = lf.pass_through(f, lf.universe_weights(masks[snap], caps_prev.loc[day]))
        gamma = lf.gamma_per_1pct_usd(f)
        scenarios = lf.scenario_flows(f)
        daily = pd.Series({s: totals[s].rebalance_total_usd for s in [*earlier[day], day]})
        ok = f[f["status"] == "ok"]
        a = aum[day]
        age = a.loc[ok.index, "anchor_age_days"]
        weighted_age = float((age * ok["aum_prev_usd"]).sum() / ok["aum_prev_usd"].sum()) if len(ok) else None
        opts = options.get(day)
        dealer = lf.dealer_gamma_per_1pct_usd(opts, float(md.px_close.at[day, "SPY"]), day) if opts is not None and "SPY" in md.px_close.columns else None
        letf_gamma_total = float(gamma[gamma.index.isin(lf.equity_proxies(f))].sum())  # = the +1% scenario: one arithmetic
        out[day] = clean(
            {
                **asdict(tot),
                "by_underlying": [{"proxy": k, **v} for k, v in lf.by_underlying(f).to_dict(orient="index").items()],
                "top_stocks": [{"ticker": k, **v, "over_100mn": bool(abs(v["flow_usd"]) >= 1e8)} for k, v in stocks.head(15).to_dict(orient="index").items()],
                "n_names_100mn": int((stocks["flow_usd"].abs() >= 1e8).sum()),
                "gamma_per_1pct_usd": letf_gamma_total,
                "gamma_by_underlying": {k: v for k, v in gamma.sort_values().items()},
                "dealer_gamma_per_1pct_usd": dealer,
                "net_gamma_per_1pct_usd": None if dealer is None else dealer - letf_gamma_total,
                "scenarios": scenarios.to_dict(orient="records"),
                "week_repeat_flow_usd": lf.week_repeat_flow_usd(daily),
                "last5_total_usd": {d.date().isoformat(): v for d, v in daily.items()},
                "aum_as_of": {"oldest": str(a["aum_anchor_date"].min().date()), "newest": str(a["aum_anchor_date"].max().date()), "aum_weighted_age_days": weighted_age},
                "excluded": [{"ticker": t, "reason": s} for t, s in f.loc[f["status"] != "ok", "status"].items()],
                "volume_coverage": False,
                "pass_through_rule": list(lf.PASS_THROUGH_PROXIES),
            }
        )
    return out


# ---------------------------------------------------------------- flows
def january_sections(h: History, days: list[pd.Timestamp]) -> dict[pd.Timestamp, dict]:
    """The January study (favourite proxy's January vs February-March return) for each date.

    Causal: a year's basket uses returns up to the prior year end and a date uses only years
    whose March ended before it, so the baskets are chosen once and a study is computed once
    per distinct set of those years.
    """
    ret_1d = h.ret_1d
    index_ret = ret_1d["SPY"]
    r = ret_1d[h.members]  # one copy of the members' columns, not one per year
    years = range(ret_1d.index[0].year + 1, max(days).year + 1)
    baskets = {y: fl.high_beta_basket(r, index_ret, pd.Timestamp(year=y - 1, month=12, day=31)) for y in years}
    studies: dict[tuple[int, ...], dict] = {}
    out = {}
    for day in days:
        used = tuple(y for y in baskets if fl.march_ended(y, day))
        if used not in studies:
            jan = fl.january_effect(r, {y: baskets[y] for y in used}, day)
            studies[used] = {"jan_fm_corr": jan["corr"], "jan_fm_n_years": jan["n_years"], "jan_fm_years": jan["years"]}
        out[day] = studies[used]
    return out


def flows_sections(flows: pd.DataFrame | None, simulated: bool, days: list[pd.Timestamp], legs: dict[pd.Timestamp, Legs],
                   january: dict[pd.Timestamp, dict], starts: dict[pd.Timestamp, pd.Timestamp]) -> dict[pd.Timestamp, dict]:
    """Intensity percentiles, timing and favourites overlap of each date, from one frame of flow records.

    The market-wide daily intensities are summed once; each date then reads its own rows by
    position. ``starts[day]``: the first date of that date's own window of records, so each date
    gets exactly what its own window gives.
    """
    def unavailable(day: pd.Timestamp) -> dict:
        return clean({**january[day], "available": False, "simulated": False, "unavailable_reason": "no_flow_data"})

    if flows is None or flows.empty:
        return {d: unavailable(d) for d in days}
    dates = pd.DatetimeIndex(flows["date"])
    if not dates.is_monotonic_increasing:
        order = np.argsort(dates.to_numpy(), kind="stable")  # a date's rows keep their order (and sums)
        flows, dates = flows.iloc[order], dates[order]
    daily_all = fl.daily_intensity(flows)
    sessions = daily_all.index
    out = {}
    for day in days:
        lo, hi = dates.searchsorted(day, "left"), dates.searchsorted(day, "right")
        if lo == hi:
            out[day] = unavailable(day)
            continue
        start = starts[day]
        today = flows.iloc[lo:hi]
        daily = daily_all.loc[start:day]
        recent_from = sessions[max(sessions.searchsorted(start), sessions.searchsorted(day, "right") - fl.FAVOURITES_WINDOW_DAYS)]
        fd = fl.flow_day(today, daily, day)
        fav = fl.retail_favourites(flows.iloc[dates.searchsorted(recent_from, "left") : hi], day)
        buys, sells = fl.top_names(today, day, "retail")
        series = daily.iloc[-253:]
        out[day] = clean(
            {
                **january[day],
                "available": True,
                "simulated": bool(simulated),
                **{k: v for k, v in asdict(fd).items() if not k.endswith("_rank")},
                "retail_rank": dict(zip(("low", "high", "of"), fd.retail_rank)),
                "inst_rank": dict(zip(("low", "high", "of"), fd.inst_rank)),
                "retail_top_buys": [{"ticker": k, "net_usd": v} for k, v in buys.items()],
                "retail_top_sells": [{"ticker": k, "net_usd": v} for k, v in sells.items()],
                "favourites": list(fav.index),
                "overlap_long": fl.overlap(fav.index, legs[day].w_long),
                "overlap_short": fl.overlap(fav.index, legs[day].w_short),
                "series": {"dates": [d.date().isoformat() for d in series.index], "retail": list(series["retail"]), "inst": list(series["inst"])},
            }
        )
    return out
