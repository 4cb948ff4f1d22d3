"""Provider lookup by name, and loading one date's :class:`MarketData`."""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nightdesk.marketdata.base import DataError, DataNotYetAvailable, MarketData, Provider
from nightdesk.marketdata.calendar import resolve_session
from nightdesk.marketdata.directory import SAMPLE_DIR, DirectoryProvider
from nightdesk.marketdata.flows_source import FlowsConfig
from nightdesk.marketdata.options_io import load_options
from nightdesk.marketdata.staleness import inputs_as_of
from nightdesk.marketdata.validate import validate_prices

if TYPE_CHECKING:
    from nightdesk.settings import Settings

PROVIDERS = ("sample", "parquet", "csv", "yfinance", "store")


def get_provider(name: str, *, data_dir: Path | None = None, flows_seed: int = 20260204, store_dir: Path | None = None,
                 flows: FlowsConfig | None = None) -> Provider:
    """Build a provider by name (``sample``, ``parquet``, ``csv``, ``yfinance``, ``store``).

    ``store`` reads the store folder ``store_dir`` (or ``data_dir`` when that is not given);
    ``flows`` selects the flow data (default: a vendor ``flows.csv`` in the provider's folder, else simulated).
    """
    flows = flows or FlowsConfig(seed=flows_seed)
    if name == "sample":
        return DirectoryProvider(SAMPLE_DIR, name="sample", flows=flows)
    if name in ("parquet", "csv"):
        if data_dir is None:
            raise DataError(f"provider '{name}' needs a data directory (--data-dir or NIGHTDESK_DATA_DIR)")
        return DirectoryProvider(data_dir, name=name, flows=flows)
    if name == "yfinance":
        from nightdesk.marketdata.yfinance_provider import YFinanceProvider

        return YFinanceProvider(flows=flows)
    if name == "store":
        from nightdesk.marketdata.store_provider import StoreProvider

        root = store_dir or data_dir
        if root is None:
            raise DataError("provider 'store' needs the store folder (settings store.dir, NIGHTDESK_STORE__DIR)")
        return StoreProvider(root, flows=flows)
    raise DataError(f"unknown provider {name!r}; choose one of {', '.join(PROVIDERS)}")


def flows_config(settings: "Settings") -> FlowsConfig:
    """The flow selection ``settings.flows`` describes."""
    f = settings.flows
    return FlowsConfig(source=f.source, dir=f.dir, seed=settings.flows_seed, vendor_name=f.vendor_name,
                       rtat_api_key=f.rtat_api_key.get_secret_value() if f.rtat_api_key else None, rtat_url=f.rtat_url,
                       finra_url=f.finra_url, fetch_missing=f.fetch_missing, retail_notional_usd=f.retail_notional_usd,
                       timeout_s=settings.refresh.timeout_s)


def provider_from_settings(settings: "Settings", name: str | None = None) -> Provider:
    """The provider ``settings`` configure (``name`` overrides ``settings.provider``), with its flow selection
    and, for ``store``, the store folder."""
    return get_provider(name or settings.provider, data_dir=settings.data_dir, flows_seed=settings.flows_seed,
                        store_dir=settings.store.dir, flows=flows_config(settings))


def resolve_date(provider: Provider, day: dt.date | None, *, snap: bool = False) -> dt.date:
    """The session to run: ``day`` checked against calendar and coverage, or the latest session."""
    first, last = provider.coverage()
    if day is None:
        day, snap = last, True
    return resolve_session(day, snap=snap, last_available=last, first_available=first)


def with_close_as_of(reference: pd.DataFrame, px_close: pd.DataFrame, provider: Provider) -> pd.DataFrame:
    """The reference with ``close_as_of``: each ticker's close on its cap's ``as_of`` date (the
    last on or before it), from the same price series the notes read, so a cap can be rolled
    back by price to dates whose history window ends before the reference date.

    ``px_close`` is used when it spans the reference dates; otherwise the provider is asked for
    the few sessions before them. Dates outside the provider's coverage get no close (the caps
    then roll from the window's own prices, as before).
    """
    if reference.empty or "as_of" not in reference or "ticker" not in reference:
        return reference
    days = pd.to_datetime(reference["as_of"], errors="coerce")
    if days.isna().all():
        return reference
    first, last = provider.coverage()
    lo, hi = days.min(), min(days.max(), pd.Timestamp(last))
    if hi < pd.Timestamp(first):
        return reference
    if len(px_close) and px_close.index[0] <= lo - pd.Timedelta(days=7) and px_close.index[-1] >= hi:
        window = px_close
    else:
        start = max(first, (lo - pd.Timedelta(days=10)).date())
        window = validate_prices(provider.prices(start, hi.date()), f"provider {provider.name}")
    filled = window.ffill()
    pos = filled.index.searchsorted(days.fillna(pd.Timestamp(first)).to_numpy(), side="right") - 1
    cols = filled.columns.get_indexer(reference["ticker"])
    ok = (pos >= 0) & (cols >= 0) & days.notna().to_numpy()
    close = np.full(len(reference), np.nan)
    close[ok] = filled.to_numpy()[pos[ok], cols[ok]]
    return reference.assign(close_as_of=close)


class MarketDataBatch:
    """:class:`MarketData` for many dates with shared reads: prices and reference data are read
    once and flows once for the union of the dates' windows; each date then gets exactly what
    :func:`load_market_data` would give it (prices up to that date, its own flows window).

    Parameters
    ----------
    days : list of datetime.date
        The sessions to serve (any order).
    history_days : int
        Sessions of price history wanted before each date.
    flows_window_days : int
        Sessions of flow records before each date.
    """

    def __init__(self, provider: Provider, days: list[dt.date], *, history_days: int, flows_window_days: int = 300,
                 options_dir: Path | None = None):
        self.provider, self.history_days, self.options_dir = provider, history_days, options_dir
        self.flows_window_days = flows_window_days
        self._first, _ = provider.coverage()
        last = max(days)
        # every provider's closes pass the same checks as a vendor file's (names the provider)
        self._px = validate_prices(provider.prices(self._start(min(days)), last), f"provider {provider.name}")
        ref = provider.reference_data()
        self._ref = {**ref, "reference": with_close_as_of(ref["reference"], self._px, provider)}
        served = [d for d in days if pd.Timestamp(d) in self._px.index]
        if served:
            first_flows = min(self._flows_start(d) for d in served)
            self._flows, self._simulated = provider.flows(first_flows, last, self._px.pct_change(fill_method=None))
        else:
            self._flows, self._simulated = None, False
        self._flow_dates = pd.DatetimeIndex(self._flows["date"]) if self._flows is not None else None
        self._flows_sorted = self._flow_dates is not None and self._flow_dates.is_monotonic_increasing

    def _start(self, day: dt.date) -> dt.date:
        return max(self._first, day - dt.timedelta(days=int(self.history_days * 1.46)))

    def _flows_start(self, day: dt.date) -> dt.date:
        px = self._px.loc[pd.Timestamp(self._start(day)) : pd.Timestamp(day)]
        return px.index[max(0, len(px) - self.flows_window_days)].date()

    def for_day(self, day: dt.date) -> MarketData:
        """Everything for ``day`` (:class:`DataNotYetAvailable` when the provider has no closes for it)."""
        px = self._px.loc[pd.Timestamp(self._start(day)) : pd.Timestamp(day)]
        if px.empty or px.index[-1].date() != day:
            raise DataNotYetAvailable(f"data for {day.isoformat()} not complete: the provider has no closes for that session")
        flows = self._flows
        if flows is not None:
            lo, hi = pd.Timestamp(self._flows_start(day)), pd.Timestamp(day)
            if self._flows_sorted:  # a slice, not a row-by-row take of the string columns
                flows = flows.iloc[self._flow_dates.searchsorted(lo, "left") : self._flow_dates.searchsorted(hi, "right")].reset_index(drop=True)
            else:
                flows = flows[(flows["date"] >= lo) & (flows["date"] <= hi)].reset_index(drop=True)
        ref = self._ref
        as_of = inputs_as_of(day, px_close=px, sectors=ref["sectors"], reference=ref["reference"], letf_registry=ref["letf_registry"],
                             factors=ref["factors"], flows=flows)
        return MarketData(
            date=day,
            px_close=px,
            sectors=ref["sectors"],
            reference=ref["reference"],
            letf_registry=ref["letf_registry"],
            factors=ref["factors"],
            flows=flows,
            flows_simulated=self._simulated,
            provider=self.provider.name,
            sources=self.provider.sources(),
            options=load_options(self.options_dir, day),
            as_of=as_of,
            survivorship_biased=bool(getattr(self.provider, "survivorship_biased", False)),
        )


def load_market_data(provider: Provider, day: dt.date, *, history_days: int, flows_window_days: int = 300,
                     options_dir: Path | None = None) -> MarketData:
    """Everything for ``day``: prices up to it, reference data, flows for the past year, and the
    day's option open interest when ``options_dir`` has a file for it."""
    batch = MarketDataBatch(provider, [day], history_days=history_days, flows_window_days=flows_window_days, options_dir=options_dir)
    return batch.for_day(day)


def data_fingerprint(md: MarketData) -> str:
    """Short hash of every input a note for ``md.date`` reads: closes up to the date, sectors,
    reference caps, the LETF registry, factors, the flow records of its window and the options
    file. Simulated flows are a function of the closes and the seed (a setting), both already in
    the key, so their frame is not hashed (its last bits depend on the span of closes the draw
    saw). About 0.03 s a date on the sample."""
    h = hashlib.sha256(md.provider.encode())
    frames = [(md.px_close, True), (md.factors, True), (md.sectors, False), (md.reference, False), (md.letf_registry, False),
              (None if md.flows_simulated else md.flows, False), (md.options, False)]  # dated by their index, or by rows (whose index is arbitrary)
    for frame, by_index in frames:
        digest = 0 if frame is None else int(pd.util.hash_pandas_object(frame, index=by_index).sum()) & 0xFFFFFFFFFFFFFFFF
        h.update(digest.to_bytes(8, "little"))
        h.update(b"|" if frame is None else ",".join(map(str, frame.columns)).encode())
    h.update(str(md.flows_simulated).encode())
    return f"{md.provider}-{h.hexdigest()[:16]}"
