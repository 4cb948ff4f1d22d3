"""Sector rotation, themes and breadth. Returns are fractions unless a name ends in ``_pct``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_GROUP_MEMBERS = 3
"""Groups with fewer usable members are reported as insufficient, not ranked."""


def sector_map(sectors: pd.DataFrame, day: pd.Timestamp, tickers: list[str]) -> pd.DataFrame:
    """Point-in-time sector and sub-industry per ticker.

    Uses the latest snapshot on or before ``day``; tickers absent from it take their row from
    the nearest other snapshot (later first), so a ticker that joined the index later still
    gets a sector. Columns ``sector, sub_industry, snapshot``, index = ticker.
    """
    snaps = sorted(sectors["snapshot"].unique())
    in_force = [s for s in snaps if pd.Timestamp(s) <= day]
    order = ([in_force[-1]] if in_force else []) + [s for s in snaps if pd.Timestamp(s) > day] + list(reversed(in_force[:-1]))
    ranked = sectors.assign(_rank=sectors["snapshot"].map({s: i for i, s in enumerate(order)}))
    best = ranked.sort_values("_rank").drop_duplicates("ticker").set_index("ticker")
    return best.reindex(tickers)[["sector", "sub_industry", "snapshot"]]


def cap_weights(reference: pd.DataFrame, px_close: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Market-cap weights on ``day`` (before its close), rolled from the reference caps by price.

    ``cap_t = cap_ref * P_(t-1) / P_ref``, where ``P_ref`` is the close on the reference date
    (or the nearest earlier close). Normalised to sum to 1 over tickers with a cap.
    """
    caps = cap_usd_series(reference, px_close, day)
    return caps / caps.sum()


def shares_proxy(reference: pd.DataFrame, px_close: pd.DataFrame) -> pd.Series:
    """Market cap per $1 of price (a shares-outstanding proxy): ``cap_ref / P_ref``.

    ``P_ref`` is the last close on or before the reference date (the first close when the
    data start later). Multiply by any close to roll the cap to that date.
    """
    ref = reference.dropna(subset=["market_cap_usd"]).drop_duplicates("ticker").set_index("ticker")
    tickers = [t for t in ref.index if t in px_close.columns]
    ref_day = pd.Timestamp(ref["as_of"].iloc[0]) if "as_of" in ref and len(ref) else px_close.index[0]
    hist = px_close[tickers]
    p_ref = hist.loc[:ref_day].ffill().iloc[-1] if (hist.index <= ref_day).any() else hist.bfill().iloc[0]
    return ref.loc[tickers, "market_cap_usd"] / p_ref


def cap_usd_series(reference: pd.DataFrame, px_close: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Market cap proxy (USD) per ticker at the close before ``day``."""
    scale = shares_proxy(reference, px_close)
    hist = px_close[scale.index]
    prior = hist.loc[:day].iloc[:-1] if day in hist.index else hist.loc[:day]
    return (scale * prior.ffill().iloc[-1]).dropna()


def cumulative(ret_1d: pd.DataFrame | pd.Series, day: pd.Timestamp, days: int) -> pd.Series | float:
    """Compounded return over the ``days`` sessions ending at ``day`` (NaN-safe per column)."""
    window = ret_1d.loc[:day].iloc[-days:]
    return (1 + window.fillna(0.0)).prod() - 1


def percentile_of_last(series: pd.Series, window_days: int = 252) -> float:
    """Percent of the trailing ``window_days`` observations (including the last) at or below the last."""
    tail = series.dropna().iloc[-window_days:]
    return float(100 * (tail <= tail.iloc[-1]).mean()) if len(tail) else float("nan")


def beat_share(ret_1d: pd.DataFrame, index_ret: pd.Series, day: pd.Timestamp, window_days: int = 252) -> pd.Series:
    """Percent of members with a return above the index's, each of the last ``window_days + 1`` sessions."""
    hist = ret_1d.loc[:day].iloc[-(window_days + 1) :]
    beat = hist.gt(index_ret.reindex(hist.index), axis=0).where(hist.notna())
    return 100 * beat.sum(axis=1) / hist.notna().sum(axis=1)


@dataclass(frozen=True)
class Breadth:
    """Breadth figures for one day (percent / percentage points)."""

    breadth_pct_beating_index: float
    breadth_5d_pct: float
    breadth_20d_pct: float
    breadth_pctile: float
    advancers: int
    decliners: int
    above_50d_pct: float
    above_200d_pct: float
    ew_ret_pct: float
    cw_ret_pct: float
    ew_minus_cw_pct: float
    ew_minus_cw_pctile: float
    rsp_minus_spy_pct: float | None
    index_ret_pct: float
    n_members: int


def breadth(
    ret_1d: pd.DataFrame,
    index_ret: pd.Series,
    weights: pd.Series,
    day: pd.Timestamp,
    *,
    rsp_ret: pd.Series | None = None,
    window_days: int = 252,
) -> Breadth:
    """Share of members beating the index, advancers/decliners, trend breadth, EW vs CW.

    Parameters
    ----------
    ret_1d : pandas.DataFrame
        Member daily returns, date x ticker.
    index_ret : pandas.Series
        The index's daily return (SPY).
    weights : pandas.Series
        Cap weights on ``day`` (sum 1) for the cap-weighted member return.
    """
    hist = ret_1d.loc[:day].iloc[-(window_days + 1) :]
    share = beat_share(ret_1d, index_ret, day, window_days)
    row = hist.iloc[-1].dropna()
    w = weights.reindex(row.index).fillna(0.0)
    cw = float((row * w).sum() / w.sum())
    ew = float(row.mean())
    # EW minus CW history uses today's weights: a proxy good enough for a percentile
    w_hist = weights.reindex(hist.columns).fillna(0.0)
    ok = hist.notna()
    cw_hist = (hist.fillna(0.0) * w_hist).sum(axis=1) / (ok * w_hist).sum(axis=1)
    gap_hist = 100 * (hist.mean(axis=1) - cw_hist)
    recent = ret_1d.loc[:day].iloc[-200:]
    idx = (1 + recent.fillna(0.0)).cumprod()  # a price index over the window: ratios to its mean are scale-free
    last = idx.iloc[-1]
    full = {n: recent.iloc[-n:].notna().sum() >= 0.9 * n for n in (50, 200)}
    above = {n: float(100 * (last > idx.iloc[-n:].mean())[full[n]].mean()) for n in (50, 200)}
    m5, m20 = (cumulative(ret_1d, day, n) for n in (5, 20))
    i5, i20 = (cumulative(index_ret, day, n) for n in (5, 20))
    rsp_gap = None
    if rsp_ret is not None and pd.notna(rsp_ret.get(day)) and pd.notna(index_ret.get(day)):
        rsp_gap = 100 * float(rsp_ret[day] - index_ret[day])
    return Breadth(
        breadth_pct_beating_index=float(share.iloc[-1]),
        breadth_5d_pct=float(100 * (m5[row.index] > i5).mean()),
        breadth_20d_pct=float(100 * (m20[row.index] > i20).mean()),
        breadth_pctile=percentile_of_last(share, window_days),
        advancers=int((row > 0).sum()),
        decliners=int((row < 0).sum()),
        above_50d_pct=above[50],
        above_200d_pct=above[200],
        ew_ret_pct=100 * ew,
        cw_ret_pct=100 * cw,
        ew_minus_cw_pct=100 * (ew - cw),
        ew_minus_cw_pctile=percentile_of_last(gap_hist, window_days),
        rsp_minus_spy_pct=rsp_gap,
        index_ret_pct=100 * float(index_ret[day]),
        n_members=int(len(row)),
    )


def group_table(
    ret_1d: pd.DataFrame,
    groups: dict[str, list[str]],
    day: pd.Timestamp,
    *,
    window_days: int = 252,
) -> pd.DataFrame:
    """Equal-weight return of each group: day, 5d, 20d, the day's z against the group's own past
    year, and breadth inside the group.

    Parameters
    ----------
    groups : dict
        Group key -> member tickers (tickers without data are ignored).

    Returns
    -------
    pandas.DataFrame
        Index = group key; columns ``n, ret_1d_pct, ret_5d_pct, ret_20d_pct, z, up_pct,
        sufficient``. Groups with fewer than ``MIN_GROUP_MEMBERS`` usable names keep their
        row with ``sufficient = False`` and NaN statistics.
    """
    hist = ret_1d.loc[:day].iloc[-(window_days + 1) :]
    rows = {}
    for key, members in groups.items():
        cols = [t for t in members if t in hist.columns]
        today = hist[cols].iloc[-1].dropna() if cols else pd.Series(dtype=float)
        n = int(len(today))
        if n < MIN_GROUP_MEMBERS:
            rows[key] = {"n": n, "ret_1d_pct": np.nan, "ret_5d_pct": np.nan, "ret_20d_pct": np.nan, "z": np.nan, "up_pct": np.nan, "sufficient": False}
            continue
        series = hist[cols].mean(axis=1)
        past = series.iloc[:-1]
        sd = past.std()
        rows[key] = {
            "n": n,
            "ret_1d_pct": 100 * float(series.iloc[-1]),
            "ret_5d_pct": 100 * float((1 + series.iloc[-5:]).prod() - 1),
            "ret_20d_pct": 100 * float((1 + series.iloc[-20:]).prod() - 1),
            "z": float((series.iloc[-1] - past.mean()) / sd) if sd > 0 else np.nan,
            "up_pct": float(100 * (today > 0).mean()),
            "sufficient": True,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def etf_table(ret_1d: pd.DataFrame, tickers: list[str], day: pd.Timestamp, *, window_days: int = 252) -> pd.DataFrame:
    """Sector / theme ETFs: day, 5d, 20d return (percent) and the day's z against the past year."""
    tickers = [t for t in tickers if t in ret_1d.columns]
    hist = ret_1d.loc[:day, tickers].iloc[-(window_days + 1) :]
    past = hist.iloc[:-1]
    return pd.DataFrame(
        {
            "ret_1d_pct": 100 * hist.iloc[-1],
            "ret_5d_pct": 100 * ((1 + hist.iloc[-5:].fillna(0)).prod() - 1),
            "ret_20d_pct": 100 * ((1 + hist.iloc[-20:].fillna(0)).prod() - 1),
            "z": (hist.iloc[-1] - past.mean()) / past.std(),
        }
    ).dropna(subset=["ret_1d_pct"])


def rank_rotation(table: pd.DataFrame, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups money left ("out of": lowest z) and entered ("into": highest z), ranked by z."""
    ranked = table[table["sufficient"]].dropna(subset=["z"]).sort_values("z")
    return ranked.head(n), ranked.tail(n).iloc[::-1]


def leg_sector_mix(w_long: pd.Series, w_short: pd.Series, sectors: pd.Series) -> pd.DataFrame:
    """Weight (percent) of each sector in the long and short momentum legs."""
    mix = pd.DataFrame({"long_pct": 100 * w_long.groupby(sectors.reindex(w_long.index)).sum(),
                        "short_pct": 100 * w_short.groupby(sectors.reindex(w_short.index)).sum()})
    return mix[(mix > 0).any(axis=1)].sort_values("long_pct", ascending=False)
