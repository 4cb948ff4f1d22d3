"""Sector rotation, themes and breadth. Returns are fractions unless a name ends in ``_pct``."""
from __future__ import annotations

import numpy as np
import pandas as pd

MIN_GROUP_MEMBERS = 3
"""Groups with fewer usable members are reported as insufficient, not ranked."""


def sector_map(sectors: pd.DataFrame, day: pd.Timestamp, tickers: list[str]) -> pd.DataFrame:
    """Point-in-time sector and sub-industry per ticker.

    Uses the latest snapshot on or before ``day``; tickers absent from it take their row from
    the nearest other snapshot (later first), so a ticker that joined the index later still
    gets a sector. Snapshots that list sectors only (the older constituent files) take each
    ticker's sub-industry from the nearest snapshot that has one under the same sector; a
    ticker whose sector changed between them keeps no sub-industry rather than a foreign one.
    Columns ``sector, sub_industry, snapshot``, index = ticker.
    """
    snaps = sorted(sectors["snapshot"].unique())
    in_force = [s for s in snaps if pd.Timestamp(s) <= day]
    order = ([in_force[-1]] if in_force else []) + [s for s in snaps if pd.Timestamp(s) > day] + list(reversed(in_force[:-1]))
    ranked = sectors.assign(_rank=sectors["snapshot"].map({s: i for i, s in enumerate(order)})).sort_values("_rank", kind="stable")
    best = ranked.drop_duplicates("ticker").set_index("ticker")
    known = ranked.dropna(subset=["sub_industry"]).drop_duplicates(["ticker", "sector"]).set_index(["ticker", "sector"])["sub_industry"]
    if len(known):
        missing = best["sub_industry"].isna() & best["sector"].notna()
        keys = pd.MultiIndex.from_arrays([best.index[missing], best.loc[missing, "sector"]])
        best.loc[missing, "sub_industry"] = known.reindex(keys).to_numpy()
    return best.reindex(tickers)[["sector", "sub_industry", "snapshot"]]


def sector_maps(sectors: pd.DataFrame, days: list[pd.Timestamp], tickers: list[str]) -> dict[pd.Timestamp, pd.DataFrame]:
    """:func:`sector_map` for many dates; dates under the same snapshots share one (identical) frame."""
    snaps = sorted(pd.Timestamp(s) for s in sectors["snapshot"].unique())
    by_regime: dict[int, pd.DataFrame] = {}
    out = {}
    for day in days:
        k = sum(s <= day for s in snaps)  # which snapshots are in force decides the map
        if k not in by_regime:
            by_regime[k] = sector_map(sectors, day, tickers)
        out[day] = by_regime[k]
    return out


def shares_proxy(reference: pd.DataFrame, px_close: pd.DataFrame) -> pd.Series:
    """Market cap per $1 of price (a shares-outstanding proxy): ``cap_ref / P_ref``.

    ``P_ref`` is the reference's own ``close_as_of`` (the close on the reference date, on the
    same adjusted basis as the prices) when it carries one; otherwise the last close on or
    before the reference date in ``px_close`` (the first close when the data start later).
    Multiply by any close to roll the cap to that date: shares held constant, so a date years
    before the reference gets that date's price level, not the reference date's caps.
    """
    ref = reference.dropna(subset=["market_cap_usd"]).drop_duplicates("ticker").set_index("ticker")
    tickers = [t for t in ref.index if t in px_close.columns]
    ref_day = pd.Timestamp(ref["as_of"].iloc[0]) if "as_of" in ref and len(ref) else px_close.index[0]
    hist = px_close[tickers]
    p_ref = hist.loc[:ref_day].ffill().iloc[-1] if (hist.index <= ref_day).any() else hist.bfill().iloc[0]
    if "close_as_of" in ref:
        p_ref = pd.to_numeric(ref.loc[tickers, "close_as_of"], errors="coerce").fillna(p_ref)
    return ref.loc[tickers, "market_cap_usd"] / p_ref


def cap_prev_usd(reference: pd.DataFrame, px_close: pd.DataFrame) -> pd.DataFrame:
    """Each ticker's market cap at the previous close (date x ticker): the day's cap weights.

    The reference cap rolled by price (:func:`shares_proxy` times the last known close).
    """
    scale = shares_proxy(reference, px_close)
    return (px_close[scale.index].ffill() * scale).shift(1)


def trailing_sum(values: np.ndarray, days: int) -> np.ndarray:
    """Sum over the trailing ``days`` rows at every row (fewer at the start), along axis 0.

    Cumulative sums instead of pandas' per-column rolling: one pass over a wide date x ticker
    array. ``values`` must hold no NaN.
    """
    c = np.cumsum(values, axis=0)
    out = c.copy()
    out[days:] = c[days:] - c[:-days]
    return out


def trailing_mean(values: np.ndarray, days: int) -> np.ndarray:
    """Mean over the trailing ``days`` rows (fewer at the start), along axis 0; no NaN allowed."""
    count = np.minimum(np.arange(1, len(values) + 1), days).reshape(-1, *([1] * (values.ndim - 1)))
    return trailing_sum(values, days) / count


def compounded(ret_1d: pd.DataFrame | pd.Series, days: int) -> pd.DataFrame | pd.Series:
    """Compounded return over the trailing ``days`` sessions at every date (a missing return counts as 0)."""
    out = np.expm1(trailing_sum(np.log1p(ret_1d.fillna(0.0).to_numpy()), days))
    if isinstance(ret_1d, pd.Series):
        return pd.Series(out, index=ret_1d.index, name=ret_1d.name)
    return pd.DataFrame(out, index=ret_1d.index, columns=ret_1d.columns)


def rolling_pctile_of_last(series: pd.Series, window_days: int = 252) -> pd.Series:
    """At each date, percent of the trailing ``window_days`` observations (that date's included) at or below it."""

    def pct(x: np.ndarray) -> float:
        x = x[~np.isnan(x)]
        return float(100 * np.mean(x <= x[-1])) if len(x) else float("nan")

    return series.rolling(window_days, min_periods=1).apply(pct, raw=True).where(series.notna())


def rank_of_last(values: np.ndarray) -> tuple[int, int, int]:
    """Rank of the last value among all (NaN dropped): (from the bottom, from the top, count);
    1 is the lowest / the highest, ties share a rank.

    Examples
    --------
    >>> rank_of_last(np.array([3.0, 1.0, np.nan, 2.0]))
    (2, 2, 3)
    """
    x = values[~np.isnan(values)]
    if not len(x) or np.isnan(values[-1]):
        return 0, 0, int(len(x))
    return int((x <= x[-1]).sum()), int((x >= x[-1]).sum()), int(len(x))


def beat_share(ret_1d: pd.DataFrame, index_ret: pd.Series) -> pd.Series:
    """Percent of members with a return above the index's, each session."""
    n = ret_1d.notna().sum(axis=1)
    beat = ret_1d.gt(index_ret.reindex(ret_1d.index), axis=0)  # False where a return is missing
    return 100 * beat.sum(axis=1) / n.where(n > 0)


PCTILE_OF = ["breadth_5d_pct", "breadth_20d_pct", "above_50d_pct", "above_200d_pct", "rsp_minus_spy_pct"]


def breadth_panel(
    ret_1d: pd.DataFrame,
    index_ret: pd.Series,
    cap_prev_usd: pd.DataFrame,
    *,
    rsp_ret: pd.Series | None = None,
    window_days: int = 252,
) -> pd.DataFrame:
    """Breadth at every date at once: share of members beating the index (day, 5d, 20d) and its
    percentile, advancers/decliners, share above the 50/200-day average, equal- vs cap-weighted.

    Parameters
    ----------
    ret_1d : pandas.DataFrame
        Member daily returns, date x ticker.
    index_ret : pandas.Series
        The index's daily return (SPY).
    cap_prev_usd : pandas.DataFrame
        Each member's market cap at the previous close (date x ticker): that day's cap weights.
    window_days : int
        Percentiles rank a date against this many sessions (its own included).

    Returns
    -------
    pandas.DataFrame
        Index = date; columns ``breadth_pct_beating_index, breadth_5d_pct, breadth_20d_pct,
        breadth_pctile, advancers, decliners, above_50d_pct, above_200d_pct, ew_ret_pct,
        cw_ret_pct, ew_minus_cw_pct, ew_minus_cw_pctile, rsp_minus_spy_pct, index_ret_pct,
        n_members`` and ``<c>_pctile`` for each ``c`` in ``PCTILE_OF`` (percent, percentage
        points or counts).
    """
    ok = ret_1d.notna()
    n = ok.sum(axis=1)
    idx = index_ret.reindex(ret_1d.index)
    share = beat_share(ret_1d, idx)
    w = cap_prev_usd.reindex(index=ret_1d.index, columns=ret_1d.columns).where(ok).fillna(0.0)
    cw = (ret_1d.fillna(0.0) * w).sum(axis=1) / w.sum(axis=1)
    ew = ret_1d.mean(axis=1)
    gap = 100 * (ew - cw)
    level = np.cumprod(1 + ret_1d.fillna(0.0).to_numpy(), axis=0)  # a price index: its ratio to its own average is scale-free
    have = ok.to_numpy()
    above = {}
    for days in (50, 200):
        full = trailing_sum(have.astype(float), days) >= 0.9 * days
        above_ma = level > trailing_mean(level, days)
        above[days] = pd.Series(100 * (above_ma & full).sum(axis=1) / np.where(full.sum(axis=1) > 0, full.sum(axis=1), np.nan), index=ret_1d.index)
    multi = {}
    for days in (5, 20):
        beat = compounded(ret_1d, days).gt(compounded(idx, days), axis=0) & ok
        multi[days] = 100 * beat.sum(axis=1) / n.where(n > 0)
    rsp_gap = 100 * (rsp_ret.reindex(ret_1d.index) - idx) if rsp_ret is not None else pd.Series(np.nan, index=ret_1d.index)
    out = pd.DataFrame({
        "breadth_pct_beating_index": share,
        "breadth_5d_pct": multi[5],
        "breadth_20d_pct": multi[20],
        "breadth_pctile": rolling_pctile_of_last(share, window_days),
        "advancers": (ret_1d > 0).sum(axis=1),
        "decliners": (ret_1d < 0).sum(axis=1),
        "above_50d_pct": above[50],
        "above_200d_pct": above[200],
        "ew_ret_pct": 100 * ew,
        "cw_ret_pct": 100 * cw,
        "ew_minus_cw_pct": gap,
        "ew_minus_cw_pctile": rolling_pctile_of_last(gap, window_days),
        "rsp_minus_spy_pct": rsp_gap,
        "index_ret_pct": 100 * idx,
        "n_members": n,
    })
    for col in PCTILE_OF:  # each breadth figure against its own past year
        out[f"{col}_pctile"] = rolling_pctile_of_last(out[col], window_days)
    return out


GROUP_FIELDS = ["n", "ret_1d_pct", "ret_5d_pct", "ret_20d_pct", "z", "up_pct"]


def group_panel(
    ret_1d: pd.DataFrame,
    groups: dict[str, list[str]],
    *,
    window_days: int = 252,
    min_members: int = MIN_GROUP_MEMBERS,
) -> dict[str, pd.DataFrame]:
    """Equal-weight return of each group at every date: day, 5d, 20d, the day's z against the
    group's own previous ``window_days`` sessions, and the share of its members up on the day.

    Parameters
    ----------
    groups : dict
        Group key -> member tickers (tickers without data are ignored).
    min_members : int
        Dates where fewer members have a return keep a row marked insufficient with NaN statistics.

    Returns
    -------
    dict
        Field (``GROUP_FIELDS`` and ``sufficient``) -> DataFrame date x group key.
    """
    ok = ret_1d.notna()
    series, count, up = {}, {}, {}
    for key, members in groups.items():
        cols = [t for t in members if t in ret_1d.columns]
        block = ret_1d[cols]
        series[key] = block.mean(axis=1)
        count[key] = ok[cols].sum(axis=1)
        up[key] = 100 * (block > 0).sum(axis=1) / count[key].where(count[key] > 0)
    keys = list(groups)
    s = pd.DataFrame(series, index=ret_1d.index, columns=keys)
    n = pd.DataFrame(count, index=ret_1d.index, columns=keys).fillna(0).astype(int)
    past = s.shift(1).rolling(window_days, min_periods=2)
    sd = past.std()
    enough = n >= min_members
    stats = {
        "ret_1d_pct": 100 * s,
        "ret_5d_pct": 100 * compounded(s, 5),
        "ret_20d_pct": 100 * compounded(s, 20),
        "z": (s - past.mean()) / sd.where(sd > 0),
        "up_pct": pd.DataFrame(up, index=ret_1d.index, columns=keys),
    }
    return {"n": n, **{k: v.where(enough) for k, v in stats.items()}, "sufficient": enough}


def group_rows(panel: dict[str, pd.DataFrame], day: pd.Timestamp) -> pd.DataFrame:
    """One date of a :func:`group_panel`: index = group key, columns ``GROUP_FIELDS`` and ``sufficient``."""
    return pd.DataFrame({k: panel[k].loc[day] for k in [*GROUP_FIELDS, "sufficient"]})


def group_table(ret_1d: pd.DataFrame, groups: dict[str, list[str]], day: pd.Timestamp, *, window_days: int = 252) -> pd.DataFrame:
    """:func:`group_panel` for one date, from only the sessions its statistics need."""
    hist = ret_1d.loc[:day].iloc[-(window_days + 1) :]
    return group_rows(group_panel(hist, groups, window_days=window_days), day)


INDUSTRY_GROUP_FALLBACK = "Unclassified"


def industry_groups(sub_industry: pd.Series, hierarchy: dict[str, str]) -> dict[str, list[str]]:
    """Tickers per GICS industry group from their sub-industry (``hierarchy``: sub-industry -> group)."""
    group = sub_industry.map(hierarchy).fillna(INDUSTRY_GROUP_FALLBACK)
    return {g: list(group.index[group == g]) for g in sorted(group.unique())}


def rank_rotation(table: pd.DataFrame, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups money left ("out of": lowest z) and entered ("into": highest z), ranked by z."""
    ranked = table[table["sufficient"]].dropna(subset=["z"]).sort_values("z")
    return ranked.head(n), ranked.tail(n).iloc[::-1]


def leg_sector_mix(w_long: pd.Series, w_short: pd.Series, sectors: pd.Series) -> pd.DataFrame:
    """Weight (percent) of each sector in the long and short momentum legs."""
    mix = pd.DataFrame({"long_pct": 100 * w_long.groupby(sectors.reindex(w_long.index)).sum(),
                        "short_pct": 100 * w_short.groupby(sectors.reindex(w_short.index)).sum()})
    return mix[(mix > 0).any(axis=1)].sort_values("long_pct", ascending=False)
