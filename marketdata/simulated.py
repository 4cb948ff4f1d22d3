"""Seeded synthetic retail / institutional flows, consistent with real prices.

Nothing here is market data: every figure derived from it is labelled *simulated*.
Each date's draw is seeded by ``(seed, date)`` and reads returns up to that date only, so any
window that contains a date reproduces the same numbers for it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

BUCKETS = ("open", "morning", "midday", "afternoon", "close")
_RETAIL_SHAPE = np.array([0.26, 0.18, 0.12, 0.20, 0.24])
_INST_SHAPE = np.array([0.20, 0.22, 0.10, 0.14, 0.34])


def simulate_flows(ret_1d: pd.DataFrame, *, seed: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Flow records for ``start..end`` (long format, see :mod:`analytics.flows`).

    Model: retail gross activity is tilted to high-volatility names; retail net intensity
    leans against the day's move (buy the dip), institutional net intensity with it;
    intraday shares follow U-shaped profiles with noise.

    Parameters
    ----------
    ret_1d : pandas.DataFrame
        Clean daily returns (fraction), date x ticker, covering ``start..end`` plus 60 sessions.
    seed : int
        Base seed.
    """
    days = ret_1d.loc[start:end].index
    tickers = ret_1d.columns
    vol = ret_1d.rolling(60, min_periods=20).std().shift(1)
    v = vol.loc[days].to_numpy()
    median = np.nanmedian(v, axis=1)[:, None]  # the day's cross-section: no later data leaks in
    v = np.where(np.isnan(v), median, v)
    popularity = np.clip(v / median, 0.3, 5.0) ** 1.5
    rets = ret_1d.loc[days].fillna(0.0).to_numpy()
    n, k = len(tickers), len(BUCKETS)
    cols = {c: np.empty((len(days), k, n)) for c in ("retail_buy_usd", "retail_sell_usd", "inst_buy_usd", "inst_sell_usd")}
    for i, day in enumerate(days):  # one seeded draw per day, in a fixed order: any window reproduces the same numbers
        rng = np.random.default_rng([seed, day.toordinal()])
        r = rets[i]
        base = 2e6 * popularity[i] * rng.lognormal(0.0, 0.35, n)
        mkt = float(np.nanmean(r))
        retail_net = np.clip(rng.normal(0.02, 0.05) - 6.0 * mkt - 2.0 * r + rng.normal(0, 0.08, n), -0.8, 0.8)
        inst_net = np.clip(rng.normal(0.0, 0.04) + 8.0 * mkt + 2.0 * r + rng.normal(0, 0.08, n), -0.8, 0.8)
        inst_gross = base * 4.0 * rng.lognormal(0.0, 0.2, n)
        g_r = rng.dirichlet(_RETAIL_SHAPE * 60)[:, None] * base
        g_i = rng.dirichlet(_INST_SHAPE * 60)[:, None] * inst_gross
        cols["retail_buy_usd"][i] = g_r * (1 + retail_net) / 2
        cols["retail_sell_usd"][i] = g_r * (1 - retail_net) / 2
        cols["inst_buy_usd"][i] = g_i * (1 + inst_net) / 2
        cols["inst_sell_usd"][i] = g_i * (1 - inst_net) / 2
    return pd.DataFrame(
        {
            "date": np.repeat(days.to_numpy(), k * n),
            "ticker": np.tile(tickers.to_numpy(dtype=object), len(days) * k),
            "bucket": np.tile(np.repeat(np.array(BUCKETS, dtype=object), n), len(days)),
            **{c: a.ravel() for c, a in cols.items()},
            "source": "simulated",
        }
    )
