"""Data-quality gate: prices in, clean daily returns and a table of what was excluded out.

Never fills: a flagged observation becomes a missing return and is listed with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

JUMP_ABS = 0.45
"""|daily return| above which a move must explain itself (fraction)."""
QUIET_ABS = 0.05
"""A jump whose 5 sessions either side all move less than this is an adjustment artefact."""
STALE_RUN_DAYS = 3
"""Unchanged closes for this many sessions in a row are stale."""
SPLIT_RATIOS = (2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 100)
"""Price ratios (and their reciprocals) of the splits and reverse splits a vendor may leave unadjusted."""
VOL_WINDOW_DAYS = 60
"""Sessions before a jump from which a name's own daily volatility is estimated."""
SPLIT_TOL_SIGMAS = 3.0
"""Once the split ratio is undone, the day's move must be within this many of the name's daily sigmas of the market's."""
SPLIT_TOL_CAP = 0.15
"""... and within this much (log return): a split hides a normal day, not a second crash."""
HALF_SPLIT_TOL_SIGMAS, HALF_SPLIT_TOL_CAP = 2.0, 0.03
"""Tighter for a ratio of 2: a real -50% day (PG&E on 2019-01-14: -52%) must stay a real move."""
SPLIT_MIN_SIGMAS = 6.0
"""The raw jump must be at least this many of the name's own daily sigmas away from the market's move."""

FLAG_COLUMNS = ["ticker", "date", "check", "detail"]


class DataQualityError(ValueError):
    """The input cannot support a note (e.g. no usable closes on the date)."""


class IncompleteDataError(DataQualityError):
    """Too few usable closes on the date: the vendor's file may still be arriving (a nightly run
    waits for late data on this type; other quality errors fail at once)."""


@dataclass(frozen=True)
class QualityReport:
    """Output of :func:`quality_gate`.

    Attributes
    ----------
    ret_1d : pandas.DataFrame
        Clean simple daily returns (fraction), index = sessions, columns = tickers; NaN
        where the return is missing or was excluded.
    flags : pandas.DataFrame
        One row per excluded observation, columns ``ticker, date, check, detail``.
    """

    ret_1d: pd.DataFrame
    flags: pd.DataFrame


def _flags(mask: pd.DataFrame, check: str, detail: pd.Series | str) -> pd.DataFrame:
    """Turn a boolean date x ticker mask into flag rows (date-major order).

    ``detail`` is one text for every row, or a Series keyed by ``(date, ticker)``.
    """
    rows, cols = np.nonzero(mask.to_numpy(dtype=bool))
    if not len(rows):
        return pd.DataFrame(columns=FLAG_COLUMNS)
    dates, tickers = mask.index[rows], mask.columns[cols]
    details = [detail] * len(rows) if isinstance(detail, str) else [detail[(d, t)] for d, t in zip(dates, tickers)]
    return pd.DataFrame({"ticker": tickers, "date": dates, "check": check, "detail": details})


def drop_bad_rows(px_close: pd.DataFrame, sessions: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop duplicate and non-session dates and non-finite or non-positive closes.

    Parameters
    ----------
    px_close : pandas.DataFrame
        Closes (USD), index = dates, columns = tickers.
    sessions : pandas.DatetimeIndex
        Valid exchange sessions covering the index.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Cleaned closes (NaN where a value was bad) and flag rows.
    """
    flags = []
    px = px_close.sort_index()
    dup = px.index.duplicated(keep=False)
    if dup.any():
        conflicting = []
        for day in px.index[dup].unique():
            same = bool((px.loc[[day]].nunique(dropna=False) <= 1).all())
            if not same:
                conflicting.append(day)
            detail = "duplicate rows, identical: kept one" if same else "duplicate rows that disagree: date dropped"
            flags.append(pd.DataFrame({"ticker": ["*"], "date": [day], "check": ["duplicate_date"], "detail": [detail]}))
        px = px[~px.index.duplicated(keep="first")].drop(index=conflicting)
    off = ~px.index.isin(sessions)
    if off.any():
        flags.append(
            pd.DataFrame({"ticker": "*", "date": px.index[off], "check": "non_session", "detail": "not a NYSE session: row dropped"})
        )
        px = px[~off]
    values = px.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(values) & ~np.isnan(values) | (values <= 0)
    if bad.any():
        mask = pd.DataFrame(bad, index=px.index, columns=px.columns)
        flags.append(_flags(mask, "bad_value", "infinite, zero or negative close"))
        px = px.mask(mask)
    return px, pd.concat(flags, ignore_index=True) if flags else pd.DataFrame(columns=FLAG_COLUMNS)


def _run_length(flag: np.ndarray) -> np.ndarray:
    """Length of the run of True each True cell belongs to (0 for False), per column.

    Work is in the True cells only (unchanged closes are a few per cent of a price panel):
    their positions, column by column, split into runs where the row does not follow on.

    Examples
    --------
    >>> _run_length(np.array([[1, 0], [1, 1], [0, 1], [1, 1]], dtype=bool)).tolist()
    [[2, 0], [2, 3], [0, 3], [1, 3]]
    """
    flag = np.asarray(flag, dtype=bool)
    out = np.zeros(flag.shape, dtype=np.int64)
    cols, rows = np.nonzero(flag.T)  # each column's True rows, in order
    if len(rows):
        starts = np.ones(len(rows), dtype=bool)
        starts[1:] = (cols[1:] != cols[:-1]) | (rows[1:] != rows[:-1] + 1)
        run = np.cumsum(starts) - 1
        out[rows, cols] = np.bincount(run)[run]
    return out


def stale_mask(px_close: pd.DataFrame, *, leverage: pd.Series, proxy: pd.Series) -> pd.DataFrame:
    """Closes that did not change although they should have.

    A close is stale when it equals the previous close and either (a) it is part of a run of
    at least ``STALE_RUN_DAYS`` unchanged sessions, or (b) the ticker is a leveraged fund whose
    proxy moved enough that an unchanged close is implausible (|L * r_proxy| >= 0.1%).
    The session after a stale run is flagged too: its return spans several days.
    """
    v = px_close.to_numpy(dtype=float)
    have = ~np.isnan(v)
    same = np.zeros(v.shape, dtype=bool)
    same[1:] = (v[1:] == v[:-1]) & have[1:]  # NaN never equals anything
    stale = _run_length(same) >= STALE_RUN_DAYS
    col = {t: j for j, t in enumerate(px_close.columns)}
    lev_cols = [t for t in px_close.columns if t in proxy.index and proxy[t] in col]
    if lev_cols:
        j_fund = np.array([col[t] for t in lev_cols])
        p = v[:, [col[proxy[t]] for t in lev_cols]]
        prox = np.full(p.shape, np.nan)
        prox[1:] = p[1:] / p[:-1] - 1.0  # pct_change without filling
        with np.errstate(invalid="ignore"):
            expected = np.abs(prox * leverage[lev_cols].astype(float).to_numpy())
            stale[:, j_fund] |= same[:, j_fund] & (expected >= 0.001)
    after = np.zeros(v.shape, dtype=bool)
    after[1:] = stale[:-1] & ~stale[1:] & have[1:]
    return pd.DataFrame(stale | after, index=px_close.index, columns=px_close.columns)


def _window_max_abs(col: np.ndarray, lo: int, hi: int) -> float:
    """max |x| over ``col[lo:hi]`` ignoring NaN (NaN when the window is empty or all NaN)."""
    w = np.abs(col[max(lo, 0) : max(hi, 0)])
    w = w[~np.isnan(w)]
    return float(w.max()) if len(w) else float("nan")


def _robust_sigma(x: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of the finite values of ``x`` (NaN with fewer than 20)."""
    x = x[np.isfinite(x)]
    if len(x) < 20:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def split_suspect(log_ret: float, *, own_sigma: float, market: float, spread: float, n_alike: int) -> tuple[int, float] | None:
    """Is one day's log return an unadjusted split or reverse split? (ratio, move once undone) or None.

    The price ratio ``exp(log_ret)`` (or its reciprocal) must lie near one of
    :data:`SPLIT_RATIOS`; once that ratio is undone, what is left must look like an ordinary
    day for this name: within :data:`SPLIT_TOL_SIGMAS` of its own daily sigma (at most
    :data:`SPLIT_TOL_CAP`) of the market's move (tighter for a ratio of 2, which a real crash can
    reach); the raw move must be far outside the name's own volatility; and it must be the name's
    alone (a move shared by other names, as on 2020-03-09 in energy, is the market's).

    Parameters
    ----------
    log_ret : float
        The name's log return on the day.
    own_sigma : float
        The name's robust daily sigma (log) over the sessions before (NaN when unknown).
    market, spread : float
        Median and robust spread (sigma) of the cross-section's log returns that day.
    n_alike : int
        Other names that moved at least half as far the same way, relative to the market.

    Examples
    --------
    >>> k, rest = split_suspect(np.log(0.1 * 1.04), own_sigma=0.06, market=0.01, spread=0.015, n_alike=0)
    >>> k, round(rest, 4)  # a 10-for-1 split on a +4% day
    (10, 0.0392)
    >>> split_suspect(np.log(0.476), own_sigma=0.023, market=-0.005, spread=0.009, n_alike=0) is None  # PG&E, 2019-01-14
    True
    """
    sigma = float(np.nanmax([own_sigma, spread, 0.005]))
    ratios = np.array(SPLIT_RATIOS, dtype=float)
    k = int(ratios[np.argmin(np.abs(np.abs(log_ret) - np.log(ratios)))])
    rest = float(log_ret + np.log(k) if log_ret < 0 else log_ret - np.log(k))
    tol = min(HALF_SPLIT_TOL_SIGMAS * sigma, HALF_SPLIT_TOL_CAP) if k == 2 else min(SPLIT_TOL_SIGMAS * sigma, SPLIT_TOL_CAP)
    if abs(rest - market) <= tol and abs(log_ret - market) >= SPLIT_MIN_SIGMAS * sigma and n_alike < 2:
        return k, rest
    return None


def jump_mask(ret_1d: pd.DataFrame, *, leverage: pd.Series, proxy: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Split-like or glitch jumps among |return| > ``JUMP_ABS``.

    Rules, in order: (1) leveraged funds with a proxy: the move is not explained by
    ``L * r_proxy`` (miss > 60% of the move); (2) one-day spikes that reverse the next session
    (product of the two gross returns within 10% of 1); (3) names that are not leveraged funds:
    a price ratio near a split ratio (2, 3, 4, 5, 10, ... or the reciprocal) that, once undone,
    leaves an ordinary day for the name against its own volatility and the cross-section
    (:func:`split_suspect`): holds for volatile names too (a leveraged fund's moves are its
    underlying's times L, not the stock market's: rule 1 or 4); (4) other tickers: the 5 sessions either side are all quiet
    (< ``QUIET_ABS``), as after an unadjusted split or spin-off.

    Returns
    -------
    (pandas.DataFrame, pandas.Series)
        Boolean mask (date x ticker) and a human-readable reason per flagged ``(date, ticker)``.
    """
    r_all = ret_1d.to_numpy(dtype=float)
    n_rows = r_all.shape[0]
    mask, spike = np.zeros(r_all.shape, dtype=bool), np.zeros(r_all.shape, dtype=bool)
    detail: dict[tuple[int, int], str] = {}
    col_of = {t: j for j, t in enumerate(ret_1d.columns)}
    with np.errstate(invalid="ignore"):
        rows, cols = np.nonzero(np.abs(r_all) > JUMP_ABS)  # rare: a few dozen cells in ten years
    plain = np.array([t not in proxy.index for t in ret_1d.columns], dtype=bool)  # the cross-section: not leveraged funds
    day_stats: dict[int, tuple[float, float, np.ndarray]] = {}

    def cross_section(i: int) -> tuple[float, float, np.ndarray]:
        if i not in day_stats:
            with np.errstate(invalid="ignore", divide="ignore"):
                lr = np.log1p(r_all[i, plain])
            lr = lr[np.isfinite(lr)]
            med = float(np.median(lr)) if len(lr) else 0.0
            spread = float(1.4826 * np.median(np.abs(lr - med))) if len(lr) else float("nan")
            day_stats[i] = (med, spread, lr)
        return day_stats[i]

    for i, j in zip(rows, cols):
        ticker = ret_1d.columns[j]
        r = float(r_all[i, j])
        reason = ""
        prx = proxy.get(ticker)
        if prx is not None and prx in col_of and not np.isnan(r_all[i, col_of[prx]]):
            exp = float(leverage[ticker]) * float(r_all[i, col_of[prx]])
            if abs(r - exp) > 0.6 * abs(r):
                reason = f"{r:+.1%} vs {exp:+.1%} implied by {prx} x {float(leverage[ticker]):g}: split-like"
        elif i + 1 < n_rows and not np.isnan(r_all[i + 1, j]) and abs((1 + r) * (1 + float(r_all[i + 1, j])) - 1) < 0.10:
            reason = f"{r:+.1%} reversed next session: one-day spike"
            spike[i, j] = True
        elif plain[j] and r > -1 and (hit := _split_hit(r_all, i, j, cross_section(i))) is not None:
            k, rest, market = hit
            kind = f"a {k}-for-1 split" if r < 0 else f"a 1-for-{k} reverse split"
            reason = (f"{r:+.1%}: price ratio {'1/' if r < 0 else ''}{k}, as {kind} left unadjusted "
                      f"({np.expm1(rest):+.1%} once undone vs {np.expm1(market):+.1%} for the market)")
        else:
            before, after = _window_max_abs(r_all[:, j], i - 5, i), _window_max_abs(r_all[:, j], i + 1, i + 6)
            if (np.isnan(before) or before < QUIET_ABS) and (np.isnan(after) or after < QUIET_ABS):
                reason = f"{r:+.1%} with quiet sessions either side: split-like adjustment artefact"
        if reason:
            mask[i, j] = True
            detail[(i, j)] = reason
    # a reversing spike poisons the next session too
    for i, j in zip(*np.nonzero(spike)):
        if i + 1 < n_rows and not mask[i + 1, j]:
            mask[i + 1, j] = True
            detail[(i + 1, j)] = "reversal of the previous session's spike"
    keys = [(ret_1d.index[i], ret_1d.columns[j]) for i, j in detail]
    reasons = pd.Series(list(detail.values()), index=pd.MultiIndex.from_tuples(keys) if keys else pd.MultiIndex.from_arrays([[], []]), dtype=object)
    return pd.DataFrame(mask, index=ret_1d.index, columns=ret_1d.columns), reasons


def _split_hit(r_all: np.ndarray, i: int, j: int, day: tuple[float, float, np.ndarray]) -> tuple[int, float, float] | None:
    """:func:`split_suspect` for cell ``(i, j)`` of the returns: (ratio, move once undone, market) or None.

    ``day`` is the cross-section of row ``i`` (median, spread, log returns of the names that are
    not leveraged funds, this one among them)."""
    market, spread, cross = day
    x = float(np.log1p(r_all[i, j]))
    with np.errstate(invalid="ignore", divide="ignore"):
        own = _robust_sigma(np.log1p(r_all[max(0, i - VOL_WINDOW_DAYS) : i, j]))
    # other names that moved at least half as far the same way
    n_alike = int(np.sum(np.sign(x - market) * (cross - market) >= 0.5 * abs(x - market))) - 1
    hit = split_suspect(x, own_sigma=own, market=market, spread=spread, n_alike=max(n_alike, 0))
    return None if hit is None else (*hit, market)


def quality_gate(
    px_close: pd.DataFrame,
    sessions: pd.DatetimeIndex,
    *,
    leverage: pd.Series,
    proxy: pd.Series,
) -> QualityReport:
    """Run every check and return clean daily returns plus the flags.

    Parameters
    ----------
    px_close : pandas.DataFrame
        Adjusted closes (USD), index = dates, columns = tickers.
    sessions : pandas.DatetimeIndex
        NYSE sessions spanning the index.
    leverage, proxy : pandas.Series
        Per leveraged-fund ticker: signed daily leverage and the unlevered proxy ticker.

    Returns
    -------
    QualityReport
    """
    px, flags = drop_bad_rows(px_close, sessions)
    stale = stale_mask(px, leverage=leverage, proxy=proxy)
    ret = px.pct_change(fill_method=None)
    jumps, jump_detail = jump_mask(ret, leverage=leverage, proxy=proxy)
    flag_frames = [flags, _flags(stale, "stale_close", "close unchanged: stale"), _flags(jumps, "split_like_jump", jump_detail)]
    ret = ret.mask(stale | jumps)
    all_flags = pd.concat([f for f in flag_frames if not f.empty], ignore_index=True) if any(
        not f.empty for f in flag_frames
    ) else pd.DataFrame(columns=FLAG_COLUMNS)
    all_flags = all_flags.sort_values(["date", "ticker"]).reset_index(drop=True)
    return QualityReport(ret_1d=ret, flags=all_flags)


def require_coverage(ret_1d: pd.DataFrame, day: pd.Timestamp, tickers: list[str], *, min_share: float = 0.9) -> int:
    """Fail unless enough of ``tickers`` have a usable return on ``day``.

    Returns
    -------
    int
        Number of tickers with a usable return.

    Raises
    ------
    IncompleteDataError
        ``day`` missing from the data, or fewer than ``min_share`` of the tickers usable.
    """
    label = day.date().isoformat()
    if day not in ret_1d.index:
        raise IncompleteDataError(f"data for {label} not complete: the provider has no closes for that session")
    cols = [t for t in tickers if t in ret_1d.columns]
    n_ok = int(ret_1d.loc[day, cols].notna().sum())
    if not cols or n_ok < min_share * len(cols):
        raise IncompleteDataError(
            f"data for {label} not complete: only {n_ok} of {len(cols)} index members have a usable close "
            f"(need {min_share:.0%})"
        )
    return n_ok
