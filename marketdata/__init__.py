"""Market data: providers (sample, parquet/csv drop, yfinance), NYSE calendar, flows adapters."""

from nightdesk.marketdata.base import DataError, MarketData, Provider
from nightdesk.marketdata.registry import get_provider

__all__ = ["DataError", "MarketData", "Provider", "get_provider"]
