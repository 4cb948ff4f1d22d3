"""Live prices from Yahoo Finance via the optional ``yfinance`` package (``pip install nightdesk[live]``).

Reference data (sectors, caps, LETF registry, factors) come from the bundled sample; ETF AUM
can be refreshed with :func:`fresh_aum_usd`.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from nightdesk.marketdata.base import DataError, ProviderIOError
from nightdesk.marketdata.directory import SAMPLE_DIR, DirectoryProvider
from nightdesk.marketdata.flows_source import FlowsConfig


def require_yfinance() -> None:
    """Fail in one line unless the optional ``yfinance`` package is installed (nothing is downloaded)."""
    import importlib.util

    if importlib.util.find_spec("yfinance") is None:
        raise DataError("provider 'yfinance' needs the optional package: pip install 'nightdesk[live]'")


def _yf():
    try:
        import yfinance  # type: ignore[import-not-found]
    except ImportError:
        raise DataError("provider 'yfinance' needs the optional package: pip install 'nightdesk[live]'") from None
    return yfinance


class YFinanceProvider(DirectoryProvider):
    """Same universe as the sample, prices downloaded live."""

    def __init__(self, *, flows_seed: int = 20260204, flows: FlowsConfig | None = None, tickers: list[str] | None = None):
        require_yfinance()
        super().__init__(SAMPLE_DIR, name="yfinance", flows_seed=flows_seed, flows=flows)
        self._tickers = tickers or list(pd.read_parquet(SAMPLE_DIR / "prices.parquet").columns)
        self.survivorship_biased = tickers is None  # the sample's tickers: 2026 members only

    def download(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Adjusted closes for ``start..end`` only (what ``nightdesk data update`` asks for)."""
        yf = _yf()
        try:
            raw = yf.download(self._tickers, start=start.isoformat(), end=(end + dt.timedelta(days=1)).isoformat(),
                              auto_adjust=True, progress=False, threads=True)
        except Exception as exc:  # network errors come in many types
            raise ProviderIOError(f"provider 'yfinance': download failed ({exc.__class__.__name__}: {exc}); are we offline?") from None
        if raw is None or raw.empty:
            raise ProviderIOError(f"provider 'yfinance': no closes returned for {start}..{end}; are we offline?")
        close = raw["Close"] if isinstance(raw.columns, pd.MultiIndex) else raw
        close.index = pd.DatetimeIndex(close.index.date, name="date")
        close.columns.name = None
        return close.astype("float64")

    def _all_prices(self) -> pd.DataFrame:
        if self._prices is None:
            yf = _yf()
            start = (dt.date.today() - dt.timedelta(days=365 * 12)).isoformat()
            try:
                raw = yf.download(self._tickers, start=start, auto_adjust=True, progress=False, threads=True)
            except Exception as exc:  # network errors come in many types
                raise ProviderIOError(f"provider 'yfinance': download failed ({exc.__class__.__name__}: {exc}); are we offline?") from None
            if raw is None or raw.empty:
                raise ProviderIOError("provider 'yfinance': no data returned; are we offline?")
            close = raw["Close"] if isinstance(raw.columns, pd.MultiIndex) else raw
            close.index = pd.DatetimeIndex(close.index.date, name="date")
            self._prices = close.astype("float64")
        return self._prices

    def sources(self) -> dict[str, str]:
        out = super().sources()
        out["prices"] = "Yahoo Finance via yfinance (live download), adjusted closes"
        return out


def fresh_aum_usd(tickers: list[str]) -> pd.Series:  # pragma: no cover - network
    """``totalAssets`` per ETF from Yahoo (USD)."""
    yf = _yf()
    return pd.Series({t: yf.Ticker(t).info.get("totalAssets") for t in tickers}, dtype="float64")
