"""Seeded synthetic retail / institutional flows, consistent with real prices.

Nothing here is market data: every figure derived from it is labelled *simulated*.
Each date's draw is seeded by ``(seed, date)`` so any window reproduces the same numbers.
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
    popularity = (vol.loc[days].fillna(vol.median()) / vol.loc[days].median(axis=1).to_numpy()[:, None]).clip(0.3, 5.0) ** 1.5
    frames = []
    for i, day in enumerate(days):
        rng = np.random.default_rng([seed, day.toordinal()])
        r = ret_1d.loc[day].fillna(0.0).to_numpy()
        n = len(tickers)
        base = 2e6 * popularity.iloc[i].to_numpy() * rng.lognormal(0.0, 0.35, n)
        mkt = float(np.nanmean(r))
        retail_net = np.clip(rng.normal(0.02, 0.05) - 6.0 * mkt - 2.0 * r + rng.normal(0, 0.08, n), -0.8, 0.8)
        inst_net = np.clip(rng.normal(0.0, 0.04) + 8.0 * mkt + 2.0 * r + rng.normal(0, 0.08, n), -0.8, 0.8)
        inst_gross = base * 4.0 * rng.lognormal(0.0, 0.2, n)
        shape_r = rng.dirichlet(_RETAIL_SHAPE * 60)
        shape_i = rng.dirichlet(_INST_SHAPE * 60)
        for b, bucket in enumerate(BUCKETS):
            g_r, g_i = base * shape_r[b], inst_gross * shape_i[b]
            frames.append(
                pd.DataFrame(
                    {
                        "date": day,
                        "ticker": tickers,
                        "bucket": bucket,
                        "retail_buy_usd": g_r * (1 + retail_net) / 2,
                        "retail_sell_usd": g_r * (1 - retail_net) / 2,
                        "inst_buy_usd": g_i * (1 + inst_net) / 2,
                        "inst_sell_usd": g_i * (1 - inst_net) / 2,
                    }
                )
            )
    out = pd.concat(frames, ignore_index=True)
    out["source"] = "simulated"
    return out
