"""Compose each analysis into a JSON-ready facts section (plain floats, ints, strings, lists).

Frames in, dicts out; every number the note prints comes from these dicts.
"""
from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from nightdesk.analytics import flows as fl
from nightdesk.analytics import letf as lf
from nightdesk.analytics import momentum as mo
from nightdesk.analytics import rotation as ro
from nightdesk.analytics.quality import DataQualityError

SECTOR_ETFS = ["XLK", "XLC", "XLY", "XLF", "XLI", "XLB", "XLE", "XLV", "XLP", "XLU", "XLRE", "SMH", "SOXX"]


def _num(x: Any, nd: int = 6) -> Any:
    """JSON-safe number: NaN/inf -> None, numpy -> Python, rounded."""
    if x is None:
        return None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else round(float(x), nd)
    return x


def clean(obj: Any) -> Any:
    """Recursively make ``obj`` JSON-safe (see :func:`_num`)."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (pd.Timestamp,)):
        return obj.date().isoformat()
    return _num(obj)


def _history(ls: pd.Series, long: pd.Series | None, params: dict) -> tuple[dict, pd.DataFrame]:
    events, rule = mo.find_events(
        ls,
        long,
        trigger_ls_pct=params["trigger_ls_pct"],
        trigger_long_pct=params["trigger_long_pct"] if long is not None else None,
        z_fallback=params["trigger_z_fallback"],
        z_window_days=params["z_window_days"],
        min_events=params["min_events"],
        decluster_days=params["decluster_days"],
    )
    summary, table = mo.event_study(ls, events)
    paths = mo.forward_paths(ls, events)
    out = {
        "rule": rule,
        "rule_kind": "z" if rule.startswith("L/S z") else "pct",
        "trigger_ls_pct": params["trigger_ls_pct"],
        "trigger_long_pct": params["trigger_long_pct"] if long is not None else None,
        "z_fallback": params["trigger_z_fallback"],
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


def momentum_sections(
    ret_1d: pd.DataFrame,
    px_close: pd.DataFrame,
    members: list[str],
    index_ret: pd.Series,
    factors: pd.DataFrame,
    days: list[pd.Timestamp],
    params: dict,
    *,
    etf_ret: pd.DataFrame,
    reference: pd.DataFrame | None = None,
) -> dict[pd.Timestamp, tuple[dict, dict]]:
    """The momentum facts and the baskets' weights, for many dates at once.

    Scores, equal-weight baskets and their returns are causal (a row uses only rows up to it),
    so they are computed once over the data up to the last date and each date reads its rows.
    The cap-weighted cross-check is formed per date: its shares proxy is rolled from the last
    close on or before that date (:func:`analytics.rotation.shares_proxy`), never a later one.

    Returns
    -------
    dict
        Date -> (facts section, ``{"w_long": Series, "w_short": Series}`` for other sections).

    Raises
    ------
    DataQualityError
        Too little L/S history before a date for its z-score.
    """
    days = sorted(pd.Timestamp(d) for d in days)
    r_all = ret_1d[members].loc[: days[-1]]
    px_all = px_close[members].loc[: days[-1]]
    score = mo.momentum_score(r_all, lookback_days=params["lookback_days"], skip_days=params["skip_days"])
    w_long, w_short = mo.basket_weights(
        r_all, px_all, lookback_days=params["lookback_days"], skip_days=params["skip_days"],
        quantile=params["quantile"], min_price_usd=params["min_price_usd"], score=score,
    )
    baskets_all = mo.basket_returns(r_all, w_long, w_short)
    umd_all = factors["mom"].dropna() / 100
    cw_cache: tuple[pd.Series, pd.DataFrame | None] | None = None
    need = int(params["z_window_days"] * 0.8) + 1  # sessions of L/S history the z-score needs
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
        cw = None
        if reference is not None:
            # market caps rolled from the reference date by price, with the date's own shares proxy;
            # the baskets (causal) are recomputed only when that proxy changes from one date to the next
            scale = ro.shares_proxy(reference, px_all.loc[:day])
            if cw_cache is None or not scale.equals(cw_cache[0]):
                cw_cache = (scale, _cap_weighted_baskets(r_all, px_all, scale, params, score))
            if cw_cache[1] is not None:
                c = mo.day_stats(cw_cache[1], day, z_window_days=params["z_window_days"])
                cw = {"long_ret_pct": c.long_ret_pct, "short_ret_pct": c.short_ret_pct, "ls_ret_pct": c.ls_ret_pct, "ls_z": c.ls_z}
        index_ret_pct = 100 * float(index_ret[day])
        ls = baskets["ls_ret"].dropna()
        panel_hist, panel_paths = _history(ls, baskets["long_ret"].reindex(ls.index), params)
        umd_hist, _ = _history(umd_all.loc[:day], None, {**params, "trigger_ls_pct": -4.0})
        umd_day = float(factors["mom"].get(day, np.nan)) if day in factors.index else None
        mtum = etf_ret["MTUM"].get(day) if "MTUM" in etf_ret else None
        spy = etf_ret["SPY"].get(day) if "SPY" in etf_ret else None
        cum = (1 + ls.iloc[-756:]).cumprod()
        counts, edges = np.histogram(100 * ls.to_numpy(), bins=60)
        q = panel_paths.quantile([0.25, 0.5, 0.75], axis=1).T if panel_paths.shape[1] else pd.DataFrame()
        section = {
            **asdict(stats),
            "regime": mo.regime(stats.ls_z, index_ret_pct),
            "cap_weighted": cw,
            "index_ret_pct": index_ret_pct,
            "params": {k: params[k] for k in ("lookback_days", "skip_days", "quantile", "min_price_usd", "z_window_days")},
            "history": {"panel": panel_hist, "umd": umd_hist},
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
        out[day] = (clean(section), {"w_long": w_long.loc[day], "w_short": w_short.loc[day]})
    return out


def _cap_weighted_baskets(r: pd.DataFrame, px: pd.DataFrame, scale: pd.Series, params: dict, score: pd.DataFrame) -> pd.DataFrame | None:
    """:func:`analytics.momentum.basket_returns` of the baskets cap-weighted (caps = close x ``scale``,
    the shares proxy); None with fewer than 50 names to weight."""
    names = [t for t in r.columns if t in scale.index]
    if len(names) < 50:
        return None
    caps = px[names] * scale[names]
    wl, ws = mo.basket_weights(r[names], px[names], lookback_days=params["lookback_days"], skip_days=params["skip_days"],
                               quantile=params["quantile"], min_price_usd=params["min_price_usd"], cap_usd=caps, score=score)
    return mo.basket_returns(r[names], wl, ws)


def rotation_sections(
    ret_1d: pd.DataFrame,
    px_close: pd.DataFrame,
    members: list[str],
    sectors: pd.DataFrame,
    reference: pd.DataFrame,
    themes: dict[str, dict],
    hierarchy: dict[str, str],
    days: list[pd.Timestamp],
    legs: dict[pd.Timestamp, dict],
    *,
    window_days: int = 252,
) -> dict[pd.Timestamp, dict]:
    """Rotation facts for many dates at once: breadth, sectors, industry groups, themes, sector
    ETFs, the rotation ranking and the momentum legs' sector mix.

    Every statistic is computed once over the dates' common window (vectorised over dates);
    each date then reads its row. Sector and industry-group membership is point in time: one
    panel per constituent snapshot in force.

    Parameters
    ----------
    hierarchy : dict
        GICS sub-industry -> industry group.
    days : list of pandas.Timestamp
        Sessions in ``ret_1d``.
    legs : dict
        Date -> ``{"w_long": Series, "w_short": Series}`` (the momentum baskets of that date).
    """
    days = sorted(pd.Timestamp(d) for d in days)
    # a year of percentile window, each point of which needs up to 200 sessions (the 200-day average) before it
    lo = max(0, ret_1d.index.get_loc(days[0]) - window_days - 201)
    ret = ret_1d.iloc[lo : ret_1d.index.get_loc(days[-1]) + 1]
    r = ret[members]
    cap_prev = ro.cap_prev_usd(reference, px_close[members]).reindex(ret.index)
    breadth = ro.breadth_panel(r, ret["SPY"], cap_prev, rsp_ret=ret.get("RSP"), window_days=window_days)
    themes_panel = ro.group_panel(r, {k: v["tickers"] for k, v in themes.items()}, window_days=window_days)
    etfs_panel = ro.group_panel(ret, {t: [t] for t in SECTOR_ETFS if t in ret.columns}, window_days=window_days, min_members=1)
    maps = ro.sector_maps(sectors, days, members)
    sector_panels, ig_panels = {}, {}
    for d in days:
        smap = maps[d]
        if id(smap) not in sector_panels:  # one panel per constituent snapshot in force
            groups = {s: list(smap.index[smap["sector"] == s]) for s in sorted(smap["sector"].dropna().unique())}
            sector_panels[id(smap)] = ro.group_panel(r, groups, window_days=window_days)
            ig_panels[id(smap)] = ro.group_panel(r, ro.industry_groups(smap["sub_industry"].dropna(), hierarchy), window_days=window_days)
    share = breadth["breadth_pct_beating_index"]

    def rows(table: pd.DataFrame) -> list[dict]:
        return [{"key": k, **v} for k, v in table.to_dict(orient="index").items()]

    out = {}
    for d in days:
        k = id(maps[d])
        sec = ro.group_rows(sector_panels[k], d)
        th = ro.group_rows(themes_panel, d)
        th["name_en"] = [themes[t]["en"] for t in th.index]
        th["name_zh"] = [themes[t]["zh"] for t in th.index]
        etfs = ro.group_rows(etfs_panel, d)
        etfs = etfs.loc[etfs["sufficient"], ["ret_1d_pct", "ret_5d_pct", "ret_20d_pct", "z"]]
        out_of, into = ro.rank_rotation(pd.concat([sec.assign(kind="sector"), th.assign(kind="theme")]))
        mix = ro.leg_sector_mix(legs[d]["w_long"], legs[d]["w_short"], maps[d]["sector"])
        hist = share.loc[:d].iloc[-(window_days + 1) :]
        out[d] = clean(
            {
                **breadth.loc[d].to_dict(),
                **{f: int(breadth.at[d, f]) for f in ("advancers", "decliners", "n_members")},
                "sectors": rows(sec),
                "industry_groups": rows(ro.group_rows(ig_panels[k], d)),
                "themes": rows(th),
                "sector_etfs": rows(etfs),
                "out_of": rows(out_of),
                "into": rows(into),
                "leg_sector_mix": rows(mix),
                "sector_snapshot": str(maps[d]["snapshot"].mode().iloc[0]),
                "series": {"breadth_dates": [x.date().isoformat() for x in hist.index], "breadth_pct": list(hist)},
            }
        )
    return out


INDEX_UNIVERSES = {
    "QQQ": "Nasdaq-listed members by market cap",
    "SPY": "S&P 500 members by market cap",
    "SOXX": "semiconductor members by market cap",
    "XLK": "Information Technology members by market cap",
    "XLF": "Financials members by market cap",
    "XLE": "Energy members by market cap",
    "XLV": "Health Care members by market cap",
    "XLRE": "Real Estate members by market cap",
    "KRE": "regional-bank members by market cap",
}


def universe_masks(reference: pd.DataFrame, sectors_pit: pd.DataFrame) -> pd.DataFrame:
    """Which members belong to each index proxy in ``INDEX_UNIVERSES`` (ticker x proxy, bool)."""
    ex = reference.drop_duplicates("ticker").set_index("ticker")["exchange"].reindex(sectors_pit.index)
    sec, sub = sectors_pit["sector"], sectors_pit["sub_industry"].fillna("")
    return pd.DataFrame(
        {
            "QQQ": ex.isin(["NMS", "NGM", "NCM"]),
            "SPY": pd.Series(True, index=sectors_pit.index),
            "SOXX": sub.str.contains("Semiconductor"),
            "XLK": sec == "Information Technology",
            "XLF": sec == "Financials",
            "XLE": sec == "Energy",
            "XLV": sec == "Health Care",
            "XLRE": sec == "Real Estate",
            "KRE": sub.str.contains("Regional Banks"),
        }
    ).fillna(False).astype(bool)


def universe_weights(masks: pd.DataFrame, caps: pd.Series) -> pd.DataFrame:
    """Cap weights of each proxy's members (ticker x proxy, columns sum to 1; empty proxies dropped)."""
    c = caps.reindex(masks.index).fillna(0.0).to_numpy()[:, None]
    w = masks.to_numpy() * c
    total = w.sum(axis=0)
    keep = total > 0
    return pd.DataFrame(w[:, keep] / total[keep], index=masks.index, columns=masks.columns[keep])


def letf_sections(
    registry: pd.DataFrame,
    ret_1d: pd.DataFrame,
    px_close: pd.DataFrame,
    members: list[str],
    sectors: pd.DataFrame,
    reference: pd.DataFrame,
    days: list[pd.Timestamp],
    *,
    options: pd.DataFrame | dict[pd.Timestamp, pd.DataFrame | None] | None = None,
    as_of_each_day: bool = False,
) -> dict[pd.Timestamp, dict]:
    """Rebalancing totals, by underlying, pass-through to stocks, gamma and scenarios, for many dates.

    Member caps and sector maps are computed once for all dates. By default the funds' AUM is
    rolled once, as of the panel's last close, and each session's fund flows are computed once,
    whether it is a note date or one of the four sessions before one (a study over many dates).
    With ``as_of_each_day`` each date's AUM is rolled with the closes up to that date only, so
    each date gets exactly what it gets alone (a backfill). ``options``: one open-interest file,
    or one per date.
    """
    days = sorted(pd.Timestamp(d) for d in days)
    sessions = ret_1d.index
    earlier = {d: list(sessions[: sessions.get_loc(d)][-4:]) for d in days}
    if as_of_each_day:
        aum = {d: lf.rolled_aum_usd_many(registry, px_close, [*earlier[d], d], as_of=d) for d in days}
        flows = {d: {s: lf.fund_flows(registry, ret_1d, aum[d][s], s) for s in aum[d]} for d in days}
    else:
        needed = sorted(set(days).union(*earlier.values()))
        rolled = lf.rolled_aum_usd_many(registry, px_close, needed)
        every = {s: lf.fund_flows(registry, ret_1d, rolled[s], s) for s in needed}
        aum = {d: rolled for d in days}
        flows = {d: every for d in days}
    totals = {id(f): lf.totals(f) for per_day in flows.values() for f in per_day.values()}  # once a frame: dates may share them
    caps_prev = ro.cap_prev_usd(reference, px_close[[m for m in members if m in px_close.columns]])
    maps = ro.sector_maps(sectors, days, list(caps_prev.columns))
    masks = {id(m): universe_masks(reference, m) for m in maps.values()}  # one per constituent snapshot in force
    out = {}
    for day in days:
        f = flows[day][day]
        tot = totals[id(f)]
        caps = caps_prev.loc[day]
        stocks = lf.pass_through(f, universe_weights(masks[id(maps[day])], caps))
        gamma = lf.gamma_per_1pct_usd(f)
        daily = pd.Series({d: totals[id(flows[day][d])].rebalance_total_usd for d in [*earlier[day], day]})
        ok = f[f["status"] == "ok"]
        a = aum[day][day]
        age = a.loc[ok.index, "anchor_age_days"]
        weighted_age = float((age * ok["aum_prev_usd"]).sum() / ok["aum_prev_usd"].sum()) if len(ok) else None
        dealer = None
        opts = options.get(day) if isinstance(options, dict) else options
        if opts is not None and "SPY" in px_close.columns:
            dealer = lf.dealer_gamma_per_1pct_usd(opts, float(px_close.at[day, "SPY"]), day)
        top = stocks.head(15)
        letf_gamma_total = float(gamma.sum())
        out[day] = clean(
            {
                **asdict(tot),
                "by_underlying": [{"proxy": k, **v} for k, v in lf.by_underlying(f).to_dict(orient="index").items()],
                "top_stocks": [{"ticker": k, **v, "over_100mn": bool(abs(v["flow_usd"]) >= 1e8)} for k, v in top.to_dict(orient="index").items()],
                "n_names_100mn": int((stocks["flow_usd"].abs() >= 1e8).sum()),
                "gamma_per_1pct_usd": letf_gamma_total,
                "gamma_by_underlying": {k: v for k, v in gamma.sort_values().items()},
                "dealer_gamma_per_1pct_usd": dealer,
                "net_gamma_per_1pct_usd": None if dealer is None else dealer - letf_gamma_total,
                "scenarios": lf.scenario_flows(f).to_dict(orient="records"),
                "week_repeat_flow_usd": lf.week_repeat_flow_usd(daily),
                "last5_total_usd": {d.date().isoformat(): v for d, v in daily.items()},
                "aum_as_of": {"oldest": str(a["aum_anchor_date"].min().date()), "newest": str(a["aum_anchor_date"].max().date()), "aum_weighted_age_days": weighted_age},
                "excluded": [{"ticker": t, "reason": s} for t, s in f.loc[f["status"] != "ok", "status"].items()],
                "volume_coverage": "not available in this provider: % of daily traded value not computed",
                "pass_through_rule": INDEX_UNIVERSES,
            }
        )
    return out


def january_sections(ret_1d: pd.DataFrame, members: list[str], days: list[pd.Timestamp]) -> dict[pd.Timestamp, dict]:
    """The January study (favourite proxy's January vs February-March return) for many dates.

    Causal: a year's basket uses returns up to the prior year end and a date uses only years
    whose March ended before it, so the baskets are chosen once for all dates and a study is
    computed once per distinct set of those years.
    """
    index_ret = ret_1d["SPY"]
    r = ret_1d[members]  # one copy of the members' columns, not one per year
    years = range(ret_1d.index[0].year + 1, max(days).year + 1)
    baskets = {y: fl.high_beta_basket(r, index_ret, pd.Timestamp(year=y - 1, month=12, day=31)) for y in years}
    studies: dict[tuple[int, ...], dict] = {}
    out = {}
    for day in days:
        used = tuple(y for y in baskets if fl.march_ended(y, day))
        if used not in studies:
            jan = fl.january_effect(r, {y: baskets[y] for y in used}, day)
            studies[used] = {"jan_fm_corr": jan["corr"], "jan_fm_n_years": jan["n_years"], "jan_fm_years": jan["years"],
                             "jan_fm_basket": "30 highest-beta members at each year end (real prices; favourite proxy)"}
        out[day] = studies[used]
    return out


def flows_section(
    flows: pd.DataFrame | None,
    simulated: bool,
    day: pd.Timestamp,
    legs: dict,
    january: dict,
) -> dict:
    """Intensity percentiles, timing and favourites overlap, with ``january`` (:func:`january_sections`)."""
    return flows_sections(flows, simulated, [day], {day: legs}, {day: january})[day]


def flows_sections(
    flows: pd.DataFrame | None,
    simulated: bool,
    days: list[pd.Timestamp],
    legs: dict[pd.Timestamp, dict],
    january: dict[pd.Timestamp, dict],
    *,
    starts: dict[pd.Timestamp, pd.Timestamp] | None = None,
) -> dict[pd.Timestamp, dict]:
    """:func:`flows_section` for many dates from one frame of flow records.

    The market-wide daily intensities are summed once; each date then reads its own rows by
    position (records sorted by date). ``starts[day]`` is the first date of that date's own
    window of records (default: the frame's first), so each date gets exactly what its own
    window gives (:func:`flows_section` on it).
    """
    days = [pd.Timestamp(d) for d in days]

    def unavailable(day: pd.Timestamp) -> dict:
        return clean({**january[day], "available": False, "simulated": False, "reason": "no flow data for the date"})

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
        start = (starts or {}).get(day, sessions[0])
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
                **asdict(fd),
                "retail_top_buys": [{"ticker": k, "net_usd": v} for k, v in buys.items()],
                "retail_top_sells": [{"ticker": k, "net_usd": v} for k, v in sells.items()],
                "favourites": list(fav.index),
                "overlap_long": fl.overlap(fav.index, legs[day]["w_long"]),
                "overlap_short": fl.overlap(fav.index, legs[day]["w_short"]),
                "series": {"dates": [d.date().isoformat() for d in series.index], "retail": list(series["retail"]), "inst": list(series["inst"])},
            }
        )
    return out
