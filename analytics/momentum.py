"""Momentum baskets, the day's crash statistics and the event study.

All returns here are simple returns as fractions unless a name ends in ``_pct``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

HORIZONS_DAYS = (21, 42, 63)


def price_index(ret_1d: pd.DataFrame) -> pd.DataFrame:
    """Total-return index rebuilt from clean returns (1.0 at each ticker's first close).

    Missing returns inside a ticker's history count as 0 (the index carries over);
    the index is NaN before the first close.
    """
    started = ret_1d.notna().cummax() | ret_1d.shift(-1).notna().cummax()
    idx = (1.0 + ret_1d.fillna(0.0)).cumprod()
    return idx.where(started)


def month_end_sessions(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Last session of each calendar month present in ``index``."""
    s = pd.Series(index, index=index)
    return pd.DatetimeIndex(s.groupby([index.year, index.month]).max().to_numpy())


def momentum_score(
    ret_1d: pd.DataFrame, *, lookback_days: int = 252, skip_days: int = 21, min_coverage: float = 0.9
) -> pd.DataFrame:
    """12-1 style price momentum for every session, known at that session's close.

    Parameters
    ----------
    ret_1d : pandas.DataFrame
        Clean daily returns (fraction), date x ticker.
    lookback_days, skip_days : int
        Score = P(t - skip) / P(t - lookback) - 1.
    min_coverage : float
        Minimum share of valid daily returns inside the window; otherwise NaN.

    Returns
    -------
    pandas.DataFrame
        Score (fraction), same shape as ``ret_1d``.
    """
    idx = price_index(ret_1d)
    score = idx.shift(skip_days) / idx.shift(lookback_days) - 1.0
    n_valid = ret_1d.notna().astype(np.int16).rolling(lookback_days - skip_days).sum().shift(skip_days)
    return score.where(n_valid >= min_coverage * (lookback_days - skip_days))


def leg_weights(
    score_row: np.ndarray,
    *,
    quantile: float,
    eligible: np.ndarray,
    cap_usd: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Long (top ``quantile``) and short (bottom) weights from one formation date's scores.

    Ranks only eligible names with a score; ties keep column order (stable sort). Weights
    in each leg sum to 1; equal-weight unless ``cap_usd`` is given.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Long and short weights over all columns.
    """
    n = len(score_row)
    out_long, out_short = np.zeros(n), np.zeros(n)
    valid = np.flatnonzero(eligible & np.isfinite(score_row))
    n_leg = int(np.floor(len(valid) * quantile))
    if n_leg < 1:
        return out_long, out_short
    order = valid[np.argsort(score_row[valid], kind="mergesort")]
    for names, out in ((order[-n_leg:], out_long), (order[:n_leg], out_short)):
        raw = np.ones(n_leg) if cap_usd is None else np.nan_to_num(cap_usd[names], nan=0.0)
        if raw.sum() <= 0:
            raw = np.ones(n_leg)
        out[names] = raw / raw.sum()
    return out_long, out_short


def basket_weights(
    ret_1d: pd.DataFrame,
    px_close: pd.DataFrame,
    *,
    lookback_days: int = 252,
    skip_days: int = 21,
    quantile: float = 0.1,
    min_price_usd: float = 5.0,
    cap_usd: pd.DataFrame | None = None,
    score: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily holdings of the long and short momentum baskets, rebalanced monthly.

    Baskets are formed at each month's last close with information up to that close only,
    and held from the next session to the next formation (no look-ahead).

    Parameters
    ----------
    ret_1d : pandas.DataFrame
        Clean daily returns, date x ticker (the stock universe only).
    px_close : pandas.DataFrame
        Closes (USD) on the same grid, for the price filter.
    cap_usd : pandas.DataFrame, optional
        Market-cap proxy (USD), same grid; cap-weights the legs when given.
    score : pandas.DataFrame, optional
        :func:`momentum_score` of ``ret_1d`` (same lookback and skip), when already computed.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Long and short weights, date x ticker; each row sums to 1 (or 0 before the first
        formation).
    """
    if score is None:
        score = momentum_score(ret_1d, lookback_days=lookback_days, skip_days=skip_days)
    score = score.reindex(index=ret_1d.index, columns=ret_1d.columns).to_numpy()
    price = px_close.reindex(index=ret_1d.index, columns=ret_1d.columns).to_numpy(dtype="float64")
    caps = None if cap_usd is None else cap_usd.reindex(index=ret_1d.index, columns=ret_1d.columns).to_numpy(dtype="float64")
    form_pos = ret_1d.index.get_indexer(month_end_sessions(ret_1d.index))
    n_cols = ret_1d.shape[1]
    formed_long = np.zeros((len(form_pos), n_cols))
    formed_short = np.zeros((len(form_pos), n_cols))
    for k, pos in enumerate(form_pos):
        with np.errstate(invalid="ignore"):
            eligible = price[pos] >= min_price_usd
        formed_long[k], formed_short[k] = leg_weights(score[pos], quantile=quantile, eligible=eligible,
                                                      cap_usd=None if caps is None else caps[pos])
    # the basket formed at position p is held on sessions p+1 .. next formation
    which = np.searchsorted(form_pos, np.arange(len(ret_1d)), side="left") - 1
    out = []
    for formed in (formed_long, formed_short):
        held = np.where((which >= 0)[:, None], formed[np.maximum(which, 0)], 0.0)
        out.append(pd.DataFrame(held, index=ret_1d.index, columns=ret_1d.columns))
    return out[0], out[1]


def basket_returns(ret_1d: pd.DataFrame, w_long: pd.DataFrame, w_short: pd.DataFrame) -> pd.DataFrame:
    """Daily long, short and long-minus-short basket returns (fraction).

    Missing member returns drop out of the day's basket and the remaining weights are
    renormalised (a missing price shrinks the basket, never poisons it).

    Returns
    -------
    pandas.DataFrame
        Columns ``long_ret, short_ret, ls_ret, n_long, n_short``; NaN before the first basket.
    """
    r = ret_1d.to_numpy(dtype="float64")
    ok = np.isfinite(r)
    r0 = np.where(ok, r, 0.0)
    cols = {}
    for leg, w in (("long", w_long), ("short", w_short)):
        wv = w.to_numpy(dtype="float64")
        live = wv * ok
        denom = live.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols[f"{leg}_ret"] = np.where(denom > 0, (live * r0).sum(axis=1) / denom, np.nan)
        cols[f"n_{leg}"] = (live > 0).sum(axis=1)
    out = pd.DataFrame(cols, index=ret_1d.index)
    out["ls_ret"] = out["long_ret"] - out["short_ret"]
    return out[["long_ret", "short_ret", "ls_ret", "n_long", "n_short"]]


def rolling_z(ret: pd.Series, window_days: int = 252) -> pd.Series:
    """Return divided by the trailing ``window_days`` standard deviation (excluding the day)."""
    sd = ret.rolling(window_days, min_periods=int(window_days * 0.8)).std().shift(1)
    return ret / sd


def drawdown(ret: pd.Series) -> pd.Series:
    """Drawdown (fraction, <= 0) of the compounded series from its running peak."""
    wealth = (1.0 + ret.fillna(0.0)).cumprod()
    return wealth / wealth.cummax() - 1.0


@dataclass(frozen=True)
class MomentumDay:
    """The day's momentum statistics (percent unless stated)."""

    long_ret_pct: float
    short_ret_pct: float
    ls_ret_pct: float
    ls_z: float
    ls_pctile: float
    ls_drawdown_pct: float
    ls_5d_pct: float
    ls_20d_pct: float
    n_long: int
    n_short: int
    ls_rank_low: int
    """1 = the lowest L/S day of the history (ties share the rank)."""
    ls_rank_high: int
    """1 = the highest L/S day of the history."""
    n_days: int
    ls_since: pd.Timestamp
    """First session of the L/S history (ranks and percentiles are over it)."""


def day_stats(baskets: pd.DataFrame, day: pd.Timestamp, *, z_window_days: int = 252) -> MomentumDay:
    """Statistics of ``day`` from :func:`basket_returns` output (only data up to ``day``)."""
    b = baskets.loc[:day].dropna(subset=["ls_ret"])
    ls = b["ls_ret"]
    z = float(rolling_z(ls, z_window_days).iloc[-1])
    today = float(ls.iloc[-1])
    return MomentumDay(
        long_ret_pct=100 * float(b["long_ret"].iloc[-1]),
        short_ret_pct=100 * float(b["short_ret"].iloc[-1]),
        ls_ret_pct=100 * today,
        ls_z=z,
        ls_pctile=100 * float((ls <= today).mean()),
        ls_drawdown_pct=100 * float(drawdown(ls).iloc[-1]),
        ls_5d_pct=100 * float((1 + ls.iloc[-5:]).prod() - 1),
        ls_20d_pct=100 * float((1 + ls.iloc[-20:]).prod() - 1),
        n_long=int(b["n_long"].iloc[-1]),
        n_short=int(b["n_short"].iloc[-1]),
        ls_rank_low=int((ls <= today).sum()),
        ls_rank_high=int((ls >= today).sum()),
        n_days=int(len(ls)),
        ls_since=ls.index[0],
    )


def find_events(
    ls_ret: pd.Series,
    long_ret: pd.Series | None,
    *,
    side: Literal["down", "up"],
    trigger_ls_pct: float,
    trigger_long_pct: float | None,
    z_fallback: float,
    z_window_days: int = 252,
    min_events: int = 3,
    decluster_days: int = 21,
) -> tuple[pd.DatetimeIndex, Literal["pct", "z"]]:
    """Past large L/S days on one side, de-clustered (the first day of each cluster, then
    ``decluster_days`` quiet).

    Triggers are given for the down side (L/S at most ``trigger_ls_pct``, the long leg at most
    ``trigger_long_pct`` when given; e.g. -7 and -5) and mirrored for ``side="up"`` (L/S at least
    +7, the long leg at least +5). Falls back to ``|z| >= |z_fallback|`` on the side when fewer
    than ``min_events`` days meet the % rule.

    Returns
    -------
    (pandas.DatetimeIndex, str)
        Event dates and the rule used: ``"pct"`` or ``"z"`` (the fallback).
    """
    s = 1.0 if side == "down" else -1.0  # s * x <= s * trigger: at or beyond the trigger, on the side
    hit = s * ls_ret <= -abs(trigger_ls_pct) / 100
    if long_ret is not None and trigger_long_pct is not None:
        hit &= s * long_ret <= -abs(trigger_long_pct) / 100
    events = _decluster(hit, decluster_days)
    if len(events) >= min_events:
        return events, "pct"
    z = rolling_z(ls_ret, z_window_days)
    return _decluster(s * z <= -abs(z_fallback), decluster_days), "z"


def find_band_events(ls_ret: pd.Series, *, side: Literal["down", "up"], z_from: float, z_to: float, z_window_days: int = 252,
                     decluster_days: int = 21) -> pd.DatetimeIndex:
    """Past L/S days on one side whose ``|z|`` lies in ``[z_from, z_to)``, de-clustered.

    Examples
    --------
    >>> idx = pd.bdate_range("2020-01-01", periods=300)
    >>> ls = pd.Series(np.tile([0.01, -0.01], 150), index=idx)
    >>> ls.iloc[280] = -0.025  # about -2.5 sigma
    >>> list(find_band_events(ls, side="down", z_from=2, z_to=4)) == [idx[280]]
    True
    """
    z = rolling_z(ls_ret, z_window_days)
    depth = z if side == "up" else -z
    return _decluster((depth >= z_from) & (depth < z_to), decluster_days)


def _decluster(hit: pd.Series, gap_days: int) -> pd.DatetimeIndex:
    """Keep a hit only if no kept hit lies within the previous ``gap_days`` sessions."""
    pos = np.flatnonzero(hit.fillna(False).to_numpy())
    kept: list[int] = []
    for p in pos:
        if not kept or p - kept[-1] >= gap_days:
            kept.append(p)
    return hit.index[kept]


def event_study(
    ls_ret: pd.Series, events: pd.DatetimeIndex, *, horizons_days: tuple[int, ...] = HORIZONS_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forward L/S returns and peak-to-trough after each event.

    Only events whose longest horizon ends inside ``ls_ret`` are used (no look-ahead past
    the note date when ``ls_ret`` is cut at it).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Summary indexed by horizon (sessions) with ``n, median_pct, mean_pct, hit_rate_pct,
        ptt_median_pct``; and the per-event table with ``fwd_<h>d_pct`` and ``ptt_pct``.
    """
    r = ls_ret.fillna(0.0).to_numpy()
    h_max = max(horizons_days)
    rows = []
    for day in events:
        p = ls_ret.index.get_loc(day)
        if p + h_max >= len(r):
            continue
        path = np.cumprod(1.0 + r[p + 1 : p + 1 + h_max])
        peak = np.maximum.accumulate(np.concatenate([[1.0], path]))[1:]
        row = {"date": day, "event_ret_pct": 100 * r[p], "ptt_pct": 100 * float((path / peak - 1).min())}
        for h in horizons_days:
            row[f"fwd_{h}d_pct"] = 100 * float(path[h - 1] - 1)
        rows.append(row)
    table = pd.DataFrame(rows)
    summary = []
    for h in horizons_days:
        fwd = table[f"fwd_{h}d_pct"] if len(table) else pd.Series(dtype=float)
        summary.append(
            {
                "horizon_days": h,
                "n": int(len(fwd)),
                "median_pct": float(fwd.median()) if len(fwd) else np.nan,
                "mean_pct": float(fwd.mean()) if len(fwd) else np.nan,
                "hit_rate_pct": float(100 * (fwd > 0).mean()) if len(fwd) else np.nan,
                "ptt_median_pct": float(table["ptt_pct"].median()) if len(table) else np.nan,
            }
        )
    return pd.DataFrame(summary).set_index("horizon_days"), table


def worst_days(baskets: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` worst L/S days with their legs, percent."""
    worst = baskets.dropna(subset=["ls_ret"]).nsmallest(n, "ls_ret")
    return pd.DataFrame(
        {
            "date": worst.index,
            "ls_ret_pct": 100 * worst["ls_ret"].to_numpy(),
            "long_ret_pct": 100 * worst["long_ret"].to_numpy(),
            "short_ret_pct": 100 * worst["short_ret"].to_numpy(),
        }
    )


def forward_paths(ls_ret: pd.Series, events: pd.DatetimeIndex, horizon_days: int = 63) -> pd.DataFrame:
    """Cumulative L/S paths (percent) after each event, sessions 0..horizon in rows."""
    r = ls_ret.fillna(0.0).to_numpy()
    paths = {}
    for day in events:
        p = ls_ret.index.get_loc(day)
        if p + horizon_days < len(r):
            paths[day] = 100 * (np.concatenate([[1.0], np.cumprod(1 + r[p + 1 : p + 1 + horizon_days])]) - 1)
    return pd.DataFrame(paths, index=pd.RangeIndex(horizon_days + 1, name="session"))
