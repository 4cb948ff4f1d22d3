"""Market data: providers (sample, parquet/csv drop, yfinance), NYSE calendar, flows adapters."""

from nightdesk.marketdata.base import (
    CalendarError, DataError, DataFileError, DataNotYetAvailable, MarketData, Provider, ProviderIOError,
)
from nightdesk.marketdata.registry import get_provider

__all__ = ["CalendarError", "DataError", "DataFileError", "DataNotYetAvailable", "MarketData", "Provider", "ProviderIOError",
           "get_provider"]
