"""The quality gate applied to one date's data: clean returns, index members, what was excluded."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nightdesk.analytics.quality import DataQualityError, IncompleteDataError, quality_gate, require_coverage
from nightdesk.marketdata.base import MarketData
from nightdesk.marketdata.calendar import sessions_between

WINDOW_DAYS = 252
"""Sessions of flags summarised in the record (the past year)."""


@dataclass(frozen=True)
class Gate:
    """A date's data after the quality gate.

    Attributes
    ----------
    ret_1d : pandas.DataFrame
        Clean daily returns (fraction), sessions x tickers, NaN where excluded.
    members : list of str
        Index members with prices (:func:`members_of`).
    flags : dict
        Summary for the record's ``meta.flags``.
    window_flags : pandas.DataFrame
        Every exclusion of the past year (``ticker, date, check, detail``).
    n_usable : int
        Members with a usable close on the date.
    """

    ret_1d: pd.DataFrame
    members: list[str]
    flags: dict
    window_flags: pd.DataFrame
    n_usable: int


def members_of(md: MarketData) -> list[str]:
    """Index members with prices: the latest constituent snapshot on or before the date, with the
    newest snapshot's names (the sample's prices cover today's members)."""
    snapshots = md.sectors["snapshot"]
    before = sorted(s for s in snapshots.unique() if pd.Timestamp(s) <= pd.Timestamp(md.date)) or sorted(snapshots.unique())[:1]
    names = set(md.sectors.loc[snapshots == max(snapshots), "ticker"]) | set(md.sectors.loc[snapshots == before[-1], "ticker"])
    return sorted(t for t in names if t in md.px_close.columns)


def gate(md: MarketData) -> Gate:
    """Clean returns, flags and the coverage check on the date.

    Raises
    ------
    DataQualityError
        Too few members, or the index proxy (SPY), have a usable close on the date.
    """
    sessions = sessions_between(md.px_close.index[0].date(), md.px_close.index[-1].date())
    reg = md.letf_registry.set_index("ticker")
    report = quality_gate(md.px_close, pd.DatetimeIndex(sessions), leverage=reg["leverage"], proxy=reg["underlying_proxy"])
    day = pd.Timestamp(md.date)
    members = members_of(md)
    n_usable = require_coverage(report.ret_1d, day, members)
    if "SPY" not in report.ret_1d or pd.isna(report.ret_1d.at[day, "SPY"]):
        raise IncompleteDataError(f"data for {md.date} not complete: SPY (the index proxy) has no usable close")
    window = report.flags[report.flags["date"] >= report.ret_1d.index[max(0, len(report.ret_1d) - WINDOW_DAYS)]]
    on_date = window[window["date"] == day]
    flags = {
        "n_window": int(len(window)),
        "by_check": {k: int(v) for k, v in window.groupby("check").size().items()},
        "on_date": [{"ticker": r.ticker, "check": r.check, "detail": r.detail} for r in on_date.itertuples()],
        "window_sample": [{"ticker": r.ticker, "date": r.date.date().isoformat(), "check": r.check, "detail": r.detail}
                          for r in window[window["check"] == "split_like_jump"].itertuples()][:20],
    }
    return Gate(ret_1d=report.ret_1d, members=members, flags=flags, window_flags=window, n_usable=n_usable)
