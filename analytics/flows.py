"""Retail vs institutional flows: intensity, percentile, time of day, favourites, January effect.

Flow records (long format) have columns ``date, ticker, bucket, retail_buy_usd,
retail_sell_usd, inst_buy_usd, inst_sell_usd``; ``bucket`` is one of ``BUCKETS`` or
``day`` when the source has no intraday split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BUCKETS = ("open", "morning", "midday", "afternoon", "close")
AM_BUCKETS = ("open", "morning")
PM_BUCKETS = ("afternoon", "close")


def daily_intensity(flows: pd.DataFrame) -> pd.DataFrame:
    """Net buying intensity per day, market-wide: net / gross (fraction in [-1, 1]).

    Returns
    -------
    pandas.DataFrame
        Index = date; ``retail, inst`` intensities and ``retail_gross_usd, inst_gross_usd``.
    """
    d = flows.groupby("date")[["retail_buy_usd", "retail_sell_usd", "inst_buy_usd", "inst_sell_usd"]].sum()
    out = pd.DataFrame(index=d.index)
    for who in ("retail", "inst"):
        gross = d[f"{who}_buy_usd"] + d[f"{who}_sell_usd"]
        out[who] = (d[f"{who}_buy_usd"] - d[f"{who}_sell_usd"]) / gross.where(gross > 0)
        out[f"{who}_gross_usd"] = gross
    return out


def pctile_vs_past(series: pd.Series, day: pd.Timestamp, window_days: int = 252) -> float:
    """Percent of the past ``window_days`` sessions (before ``day``) with a value at or below ``day``'s.

    Examples
    --------
    >>> s = pd.Series([1.0, 2.0, 3.0, 4.0], index=pd.date_range("2024-01-01", periods=4))
    >>> pctile_vs_past(s, pd.Timestamp("2024-01-04"), window_days=3)
    100.0
    """
    past = series.loc[:day].iloc[:-1].dropna().iloc[-window_days:]
    if past.empty or pd.isna(series.get(day)):
        return float("nan")
    return float(100 * (past <= series[day]).mean())


def rank_vs_past(series: pd.Series, day: pd.Timestamp, window_days: int = 252) -> tuple[int, int, int]:
    """``day``'s rank among itself and the past ``window_days`` sessions: (from the bottom, from
    the top, count); 1 is the lowest / the highest (ties share a rank).

    Examples
    --------
    >>> s = pd.Series([1.0, 2.0, 3.0, 4.0], index=pd.date_range("2024-01-01", periods=4))
    >>> rank_vs_past(s, pd.Timestamp("2024-01-04"), window_days=3)
    (4, 1, 4)
    """
    past = series.loc[:day].iloc[:-1].dropna().iloc[-window_days:]
    v = series.get(day)
    if pd.isna(v):
        return 0, 0, int(len(past))
    return int((past <= v).sum()) + 1, int((past >= v).sum()) + 1, int(len(past)) + 1


def timing_split(flows: pd.DataFrame, day: pd.Timestamp, who: str) -> dict[str, float]:
    """Share (percent) of the day's net flow of ``who`` in each intraday bucket.

    Shares are of the absolute net flow, so they sum to 100 and say where the activity sat.
    Empty dict when the source has no intraday split.
    """
    today = flows[(flows["date"] == day) & flows["bucket"].isin(BUCKETS)]
    if today.empty:
        return {}
    net = (today[f"{who}_buy_usd"] - today[f"{who}_sell_usd"]).groupby(today["bucket"]).sum().reindex(BUCKETS).fillna(0.0)
    total = net.abs().sum()
    return {b: float(100 * abs(v) / total) if total > 0 else 0.0 for b, v in net.items()}


def am_pm_share(timing: dict[str, float]) -> str:
    """'am', 'pm' or 'spread' depending on where most of the net flow sat."""
    am = sum(timing.get(b, 0.0) for b in AM_BUCKETS)
    pm = sum(timing.get(b, 0.0) for b in PM_BUCKETS)
    return "am" if am > 50 else "pm" if pm > 50 else "spread"


def top_names(flows: pd.DataFrame, day: pd.Timestamp, who: str = "retail", n: int = 5) -> tuple[pd.Series, pd.Series]:
    """Largest net buys and sells (USD) of ``who`` on ``day``."""
    today = flows[flows["date"] == day]
    net = (today[f"{who}_buy_usd"] - today[f"{who}_sell_usd"]).groupby(today["ticker"]).sum()
    return net.nlargest(n), net.nsmallest(n)


FAVOURITES_WINDOW_DAYS = 20  # sessions of retail activity that make a favourite


def retail_favourites(flows: pd.DataFrame, day: pd.Timestamp, *, window_days: int = FAVOURITES_WINDOW_DAYS, n: int = 30) -> pd.Series:
    """Top ``n`` names by retail gross activity over the last ``window_days`` sessions (USD)."""
    dates = np.sort(flows.loc[flows["date"] <= day, "date"].unique())[-window_days:]
    recent = flows[flows["date"].isin(dates)]
    gross = (recent["retail_buy_usd"] + recent["retail_sell_usd"]).groupby(recent["ticker"]).sum()
    return gross.nlargest(n)


def overlap(favourites: pd.Index, w_leg: pd.Series) -> dict[str, float]:
    """How many favourites sit in a momentum leg, and the leg weight they carry (percent)."""
    held = w_leg[w_leg > 0]
    common = held.index.intersection(favourites)
    return {
        "count": int(len(common)),
        "of": int(len(favourites)),
        "share_pct": float(100 * len(common) / len(favourites)) if len(favourites) else float("nan"),
        "leg_weight_pct": float(100 * held[common].sum()),
    }


def march_ended(year: int, day: pd.Timestamp) -> bool:
    """True when ``year``'s February-March window closed before ``day`` (its study can be used).

    Examples
    --------
    >>> march_ended(2025, pd.Timestamp("2025-03-31")), march_ended(2025, pd.Timestamp("2025-04-01"))
    (False, True)
    """
    return pd.Timestamp(year=year, month=3, day=31) < day


def january_effect(ret_1d: pd.DataFrame, basket_by_year: dict[int, list[str]], day: pd.Timestamp) -> dict:
    """Correlation across years of a basket's January return with its February-March return.

    Parameters
    ----------
    ret_1d : pandas.DataFrame
        Daily returns, date x ticker.
    basket_by_year : dict
        Year -> tickers (chosen with data up to the end of the prior year).
    day : pandas.Timestamp
        Only years whose March ended before ``day`` are used.

    Returns
    -------
    dict
        ``corr`` (Pearson), ``n_years``, and ``years`` (year -> jan_pct, feb_mar_pct).
    """
    rows = {}
    for year, tickers in sorted(basket_by_year.items()):
        if not march_ended(year, day):
            continue
        cols = [t for t in tickers if t in ret_1d.columns]
        if len(cols) < 5:
            continue
        ew = ret_1d[cols].mean(axis=1)
        jan = ew[(ew.index.year == year) & (ew.index.month == 1)]
        fm = ew[(ew.index.year == year) & ew.index.month.isin([2, 3])]
        if len(jan) < 15 or len(fm) < 30:
            continue
        rows[year] = {"jan_pct": 100 * float((1 + jan).prod() - 1), "feb_mar_pct": 100 * float((1 + fm).prod() - 1)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    corr = float(table["jan_pct"].corr(table["feb_mar_pct"])) if len(table) >= 3 else float("nan")
    return {"corr": corr, "n_years": int(len(table)), "years": rows}


def high_beta_basket(ret_1d: pd.DataFrame, market_ret: pd.Series, asof: pd.Timestamp, *, n: int = 30, window_days: int = 252) -> list[str]:
    """Top ``n`` names by trailing beta to the market, using data up to ``asof`` only.

    The documented proxy for "retail favourites" when no flow history is available, and
    the "high-beta / retail-favourite" style basket reused by the momentum section.
    """
    hist = ret_1d.loc[:asof].iloc[-window_days:]
    mkt = market_ret.reindex(hist.index)
    ok = hist.notna().sum() >= 0.9 * len(hist)
    h = hist.loc[:, ok]
    cov = h.sub(h.mean()).mul(mkt - mkt.mean(), axis=0).mean()
    beta = cov / mkt.var(ddof=0)
    return list(beta.nlargest(n).index)


@dataclass(frozen=True)
class FlowDay:
    """The day's flow statistics."""

    retail_intensity: float
    inst_intensity: float
    retail_intensity_pctile: float
    inst_intensity_pctile: float
    retail_rank: tuple[int, int, int]
    """(from the bottom, from the top, count) among the day and the past year (:func:`rank_vs_past`)."""
    inst_rank: tuple[int, int, int]
    retail_timing: dict
    inst_timing: dict
    retail_when: str
    inst_when: str


def flow_day(today: pd.DataFrame, daily: pd.DataFrame, day: pd.Timestamp, *, window_days: int = 252) -> FlowDay:
    """Intensity, percentile against the past year, and time of day for both groups.

    Parameters
    ----------
    today : pandas.DataFrame
        The day's flow records.
    daily : pandas.DataFrame
        :func:`daily_intensity` of the records up to and including the day.
    """
    rt, it = timing_split(today, day, "retail"), timing_split(today, day, "inst")
    return FlowDay(
        retail_intensity=float(daily.at[day, "retail"]),
        inst_intensity=float(daily.at[day, "inst"]),
        retail_intensity_pctile=pctile_vs_past(daily["retail"], day, window_days),
        inst_intensity_pctile=pctile_vs_past(daily["inst"], day, window_days),
        retail_rank=rank_vs_past(daily["retail"], day, window_days),
        inst_rank=rank_vs_past(daily["inst"], day, window_days),
        retail_timing=rt,
        inst_timing=it,
        retail_when=am_pm_share(rt),
        inst_when=am_pm_share(it),
    )
