"""Provider interface and the bundle of frames a note is computed from.

To add a provider, implement :class:`Provider` (six methods, frames in the documented
shapes) and register it in :mod:`marketdata.registry`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd


class DataError(ValueError):
    """Bad or missing input data; the message names the input and what is wrong. Never retried
    (it fails the same way again). The subclasses tell a flow what else to do, by type:

    ============================  ===================================================
    :class:`DataFileError`        a malformed or unreadable input file
    :class:`CalendarError`        the date is not a session, or outside the NYSE calendar
    :class:`DataNotYetAvailable`  the date is a session the provider has no closes for yet:
                                  the nightly run waits for late data (``late_data_window_s``)
    ============================  ===================================================

    A plain :class:`DataError` (e.g. a provider option missing) is a failure too. Transient
    trouble reaching the provider is :class:`ProviderIOError`, which is *not* a DataError.
    """


class DataFileError(DataError):
    """An input file is unreadable or malformed (the message names the file and the problem)."""


class CalendarError(DataError):
    """The date is not a NYSE session, or lies outside the calendar's range."""


class DataNotYetAvailable(DataError):
    """The date is a session but the provider's data does not reach it (yet): worth waiting for."""


class ProviderIOError(OSError):
    """The provider could not be reached or read (network, timeout, a flaky mount): worth retrying
    with ``fetch_retry_delays_s``. An ``OSError``, not a :class:`DataError`, so that a retry
    policy that never retries bad data still retries this."""


@dataclass(frozen=True)
class MarketData:
    """Everything the analytics need for one note date.

    Attributes
    ----------
    date : datetime.date
        The note's session.
    px_close : pandas.DataFrame
        Adjusted closes (USD), index = sessions up to ``date``, columns = tickers.
    sectors : pandas.DataFrame
        Columns ``snapshot, ticker, name, sector, sub_industry`` (one row per ticker per
        constituent snapshot; point in time).
    reference : pandas.DataFrame
        Columns ``ticker, exchange, market_cap_usd, index_weight, as_of``.
    letf_registry : pandas.DataFrame
        Columns ``ticker, name, leverage, underlying, underlying_kind, underlying_proxy,
        aum_usd, aum_as_of``.
    factors : pandas.DataFrame
        Ken French daily factors in percent, columns ``mkt_rf, smb, hml, rf, mom``.
    flows : pandas.DataFrame or None
        Retail / institutional notional per date x ticker x bucket (see
        :mod:`marketdata.flows_io`), or None when the provider has none.
    flows_simulated : bool
        True when ``flows`` is synthetic.
    options : pandas.DataFrame or None
        SPY option open interest on the date (see :mod:`marketdata.options_io`), or None.
    provider : str
        Provider name.
    sources : dict
        Input name -> attribution line for the data appendix (names sources, never file paths).
    survivorship_biased : bool
        True when the price universe holds only today's members (no delisted names): the
        bundled sample, and the yfinance provider and a store seeded from it, which use its tickers.
    as_of : dict
        Input name -> the date its data describes (see :mod:`marketdata.staleness`: ``prices``,
        ``membership``, ``reference``, ``letf_aum``, ``factors``, ``flows``).
    """

    date: dt.date
    px_close: pd.DataFrame
    sectors: pd.DataFrame
    reference: pd.DataFrame
    letf_registry: pd.DataFrame
    factors: pd.DataFrame
    flows: pd.DataFrame | None
    flows_simulated: bool
    provider: str
    sources: dict[str, str] = field(default_factory=dict)
    options: pd.DataFrame | None = None
    as_of: dict[str, dt.date] = field(default_factory=dict)
    survivorship_biased: bool = False


class Provider(Protocol):
    """What a market-data provider supplies."""

    name: str

    def coverage(self) -> tuple[dt.date, dt.date]:
        """First and last date with closes."""

    def prices(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Adjusted closes, wide (date x ticker), USD, ``start <= date <= end``."""

    def reference_data(self) -> dict[str, pd.DataFrame]:
        """``sectors``, ``reference``, ``letf_registry`` and ``factors`` frames."""

    def flows(self, start: dt.date, end: dt.date, px_close: pd.DataFrame) -> tuple[pd.DataFrame | None, bool]:
        """Flow records for the window and whether they are simulated."""

    def sources(self) -> dict[str, str]:
        """Attribution line per input."""
