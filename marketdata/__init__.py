"""Market data: providers (sample, parquet/csv drop, yfinance), NYSE calendar, flows adapters."""

from marketdata.base import DataError, MarketData, Provider
from marketdata.registry import get_provider

__all__ = ["DataError", "MarketData", "Provider", "get_provider"]
