"""As-of dates of a note's inputs, and which of them are older than their limit.

Inputs (keys of :attr:`MarketData.as_of`): ``prices`` (last close), ``membership`` (the index
constituent snapshot in force), ``reference`` (shares / market caps), ``letf_aum`` (the oldest
fund AUM anchor), ``factors`` (last Ken French factor day) and ``flows`` (last flow record).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from nightdesk.analytics.letf import aum_as_of_date

INPUTS = ("prices", "membership", "reference", "letf_aum", "factors", "flows")


def inputs_as_of(day: dt.date, *, px_close: pd.DataFrame, sectors: pd.DataFrame, reference: pd.DataFrame,
                 letf_registry: pd.DataFrame, factors: pd.DataFrame, flows: pd.DataFrame | None) -> dict[str, dt.date]:
    """The date each input describes, as seen from the note date ``day``.

    ``membership`` is the latest constituent snapshot on or before ``day`` (the earliest when all
    are later); ``factors`` and ``flows`` the last day on or before ``day``. An input that is
    absent (no flow records) has no entry.
    """
    stamp = pd.Timestamp(day)
    out: dict[str, dt.date] = {}
    if len(px_close.index):
        out["prices"] = px_close.index[px_close.index <= stamp].max().date()
    if len(sectors):
        snaps = pd.to_datetime(pd.Series(sectors["snapshot"].unique()))
        before = snaps[snaps <= stamp]
        out["membership"] = (before.max() if len(before) else snaps.min()).date()
    if len(reference) and "as_of" in reference:
        caps = pd.to_datetime(reference["as_of"], errors="coerce").dropna()
        if len(caps):
            out["reference"] = caps.max().date()
    if len(letf_registry) and "aum_as_of" in letf_registry:
        anchors = aum_as_of_date(letf_registry.loc[letf_registry["aum_usd"].notna()]).dropna()  # as the LETF section reads them
        if len(anchors):
            out["letf_aum"] = anchors.min().date()
    if len(factors.index):
        idx = pd.DatetimeIndex(factors.index)
        upto = idx[idx <= stamp]
        out["factors"] = (upto.max() if len(upto) else idx.min()).date()
    if flows is not None and len(flows):
        dates = pd.DatetimeIndex(flows["date"])
        upto = dates[dates <= stamp]
        if len(upto):
            out["flows"] = upto.max().date()
    return out


@dataclass(frozen=True)
class Stale:
    """An input older than its limit."""

    input: str
    as_of: dt.date
    age_days: int
    limit_days: int


def stale_inputs(as_of: Mapping[str, dt.date], day: dt.date, max_age_days: Mapping[str, int]) -> list[Stale]:
    """Inputs whose as-of date is more than their limit (calendar days) before ``day``, in ``INPUTS`` order.

    An input without a limit, or without an as-of date, is never stale; data dated after ``day``
    has age 0.

    Examples
    --------
    >>> d = dt.date(2026, 8, 3)
    >>> [s.input for s in stale_inputs({"letf_aum": dt.date(2026, 6, 1), "factors": dt.date(2026, 6, 1)}, d,
    ...                                 {"letf_aum": 35, "factors": 75})]
    ['letf_aum']
    """
    out = []
    order = list(INPUTS) + sorted(k for k in as_of if k not in INPUTS)
    for name in order:
        if name not in as_of or name not in max_age_days or as_of[name] is None:
            continue
        age = max(0, (day - as_of[name]).days)
        if age > max_age_days[name]:
            out.append(Stale(name, as_of[name], age, int(max_age_days[name])))
    return out
