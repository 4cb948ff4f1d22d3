"""Flow data adapters: a generic vendor CSV, Nasdaq Data Link RTAT, FINRA daily short volume.

All return long frames; errors name the file and the row.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.validate import csv_header, read_csv_file, require_columns

VENDOR_COLUMNS = ["date", "ticker", "bucket", "retail_buy_usd", "retail_sell_usd", "inst_buy_usd", "inst_sell_usd"]
VALID_BUCKETS = {"open", "morning", "midday", "afternoon", "close", "day"}


def read_vendor_flows(path: Path, *, known_tickers: set[str] | None = None) -> pd.DataFrame:
    """Read a vendor flow CSV (only its ``VENDOR_COLUMNS``); validate notionals, tickers and keys."""
    require_columns(csv_header(path), VENDOR_COLUMNS, str(path), expected=",".join(VENDOR_COLUMNS))
    frame = read_csv_file(path, usecols=VENDOR_COLUMNS)
    for col in VENDOR_COLUMNS[3:]:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            row = int(bad.idxmax())
            raise DataError(f"{path}: row {row + 2}: {col} = {frame.loc[row, col]!r} is not a non-negative number")
        frame[col] = values
    bad_bucket = ~frame["bucket"].isin(VALID_BUCKETS)
    if bad_bucket.any():
        row = int(bad_bucket.idxmax())
        raise DataError(f"{path}: row {row + 2}: bucket {frame.loc[row, 'bucket']!r} not one of {sorted(VALID_BUCKETS)}")
    if known_tickers is not None:
        unknown = ~frame["ticker"].isin(known_tickers)
        if unknown.any():
            row = int(unknown.idxmax())
            raise DataError(f"{path}: row {row + 2}: unknown ticker {frame.loc[row, 'ticker']!r}")
    dup = frame.duplicated(["date", "ticker", "bucket"], keep=False)
    if dup.any():
        row = int(dup.idxmax())
        raise DataError(f"{path}: row {row + 2}: duplicate (date, ticker, bucket)")
    frame["date"] = pd.to_datetime(frame["date"], errors="coerce")
    if frame["date"].isna().any():
        raise DataError(f"{path}: row {int(frame['date'].isna().idxmax()) + 2}: unparseable date")
    frame["source"] = f"vendor:{Path(path).name}"
    return frame


def read_rtat(path: Path) -> pd.DataFrame:
    """Nasdaq Data Link RTAT10 export: ``date,ticker,activity,sentiment``.

    ``activity`` is the ticker's share of all retail volume (fraction); ``sentiment`` a
    net-buying score. Returns those columns with parsed dates.
    """
    frame = pd.read_csv(path)
    missing = {"date", "ticker", "activity", "sentiment"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: missing RTAT column(s) {sorted(missing)}")
    frame["date"] = pd.to_datetime(frame["date"])
    if (frame["activity"] < 0).any() or (frame["activity"] > 1).any():
        raise DataError(f"{path}: RTAT activity must be a share in [0, 1]")
    return frame


def fetch_rtat(api_key: str | None = None, *, tickers: list[str] | None = None) -> pd.DataFrame:  # pragma: no cover - network
    """Live RTAT through ``nasdaqdatalink`` (optional; imported lazily)."""
    key = api_key or os.environ.get("NASDAQ_DATA_LINK_API_KEY")
    if not key:
        raise DataError("RTAT: no API key (set NASDAQ_DATA_LINK_API_KEY)")
    try:
        import nasdaqdatalink  # type: ignore[import-not-found]
    except ImportError:
        raise DataError("RTAT: install the optional package 'nasdaq-data-link'") from None
    nasdaqdatalink.ApiConfig.api_key = key
    return nasdaqdatalink.get_table("NDAQ/RTAT10", ticker=tickers)


def read_finra_short_volume(path: Path) -> pd.DataFrame:
    """FINRA daily short-sale volume file (pipe-separated) -> off-exchange short share per ticker.

    Returns
    -------
    pandas.DataFrame
        ``date, ticker, short_volume, total_volume, short_share`` (fraction), summed over
        market centres.
    """
    frame = pd.read_csv(path, sep="|", dtype={"Date": str})
    need = {"Date", "Symbol", "ShortVolume", "TotalVolume"}
    frame.columns = [c.replace(" ", "") for c in frame.columns]
    if need - set(frame.columns):
        raise DataError(f"{path}: missing FINRA column(s) {sorted(need - set(frame.columns))}")
    frame = frame[frame["Date"].str.fullmatch(r"\d{8}", na=False)]
    frame["date"] = pd.to_datetime(frame["Date"], format="%Y%m%d")
    g = frame.groupby(["date", "Symbol"])[["ShortVolume", "TotalVolume"]].sum().reset_index()
    g.columns = ["date", "ticker", "short_volume", "total_volume"]
    g["short_share"] = g["short_volume"] / g["total_volume"].where(g["total_volume"] > 0)
    return g
