"""Providers backed by a directory of files: the bundled ``sample``, and a vendor drop
(``parquet`` or ``csv``) that follows the same layout.

Layout (columns are checked on load; errors name the file and what is wrong):

``prices.parquet``
    wide: index ``date``, one float column per ticker (adjusted close, USD); or
``prices.csv``
    long: ``date,ticker,close`` (ISO dates, naive, one row per date and ticker).
``sectors.csv``
    ``snapshot,ticker,name,sector,sub_industry``.
``reference.csv``
    ``ticker,exchange,market_cap_usd,index_weight,as_of``.
``letf_registry.csv``
    ``ticker,name,issuer,leverage,underlying,underlying_kind,underlying_proxy,aum_usd,aum_as_of,aum_source``.
``ff_factors_daily.parquet``
    optional: index ``date``; ``mkt_rf,smb,hml,rf,mom`` in percent.
``flows.csv``
    optional vendor flows: ``date,ticker,bucket,retail_buy_usd,retail_sell_usd,inst_buy_usd,inst_sell_usd``
    (used when ``settings.flows.source`` is ``auto`` or ``vendor``; see :mod:`marketdata.flows_source`).

Reference files missing from a vendor directory are taken from the bundled sample.
"""
from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pandas as pd

from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.flows_source import FlowsConfig, flows_source_line, load_flows

MAX_FILE_BYTES = 1_000_000_000
SAMPLE_DIR = Path(str(resources.files("nightdesk.marketdata") / "sample"))

REFERENCE_COLUMNS = {
    "sectors.csv": ["snapshot", "ticker", "sector"],
    "reference.csv": ["ticker", "exchange", "market_cap_usd", "as_of"],
    "letf_registry.csv": ["ticker", "leverage", "underlying", "underlying_kind", "underlying_proxy", "aum_usd", "aum_as_of"],
}

SAMPLE_SOURCES = {
    "prices": "Yahoo Finance adjusted closes (via public GitHub dataset dsturdy/Factor_Attribution), 2015-01-02 to 2026-08-03; illustration sample, survivorship-biased (2026 members only)",
    "sectors": "S&P 500 constituents with GICS sector, snapshots 2012-12-27 to 2026-08-08 (datasets/s-and-p-500-companies, ODC-PDDL)",
    "reference": "Market caps and index weights 2024-12 (Kaggle 'S&P 500 stocks', CC0)",
    "letf_registry": "Leveraged/inverse ETF registry compiled from public ETF tables; AUM dated 2019 to 2026-10",
    "factors": "Kenneth R. French Data Library, daily Fama-French factors and momentum (UMD), 202604 CRSP vintage",
    "flows": "simulated: seeded synthetic retail/institutional flows (illustration only)",
}


def check_file_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path}: {size / 1e9:.1f} GB is over the {MAX_FILE_BYTES / 1e9:.0f} GB limit for a data file; split it by year")
    if size == 0:
        raise DataError(f"{path}: file is empty")


def read_prices_file(path: Path) -> pd.DataFrame:
    """Read and validate a prices file (wide parquet or long CSV) into a wide float frame."""
    check_file_size(path)
    if path.suffix == ".parquet":
        wide = pd.read_parquet(path)
        if not isinstance(wide.index, pd.DatetimeIndex):
            if "date" not in wide.columns:
                raise DataError(f"{path}: needs a 'date' index or column")
            wide = wide.set_index("date")
    else:
        try:
            long = pd.read_csv(path, dtype={"ticker": "string"})
        except pd.errors.ParserError as exc:
            raise DataError(f"{path}: not a readable CSV ({exc})") from None
        missing = {"date", "ticker", "close"} - set(long.columns)
        if missing:
            raise DataError(f"{path}: missing column(s) {sorted(missing)}; expected date,ticker,close")
        close = pd.to_numeric(long["close"], errors="coerce")
        bad = close.isna() & long["close"].notna()
        if bad.any():
            row = int(bad.idxmax())
            raise DataError(f"{path}: row {row + 2}: close {long.loc[row, 'close']!r} is not a number")
        long = long.assign(close=close)
        dup = long.duplicated(["date", "ticker"], keep=False)
        if dup.any():
            row = int(dup.idxmax())
            raise DataError(f"{path}: row {row + 2}: duplicate (date, ticker) = ({long.loc[row, 'date']}, {long.loc[row, 'ticker']})")
        wide = long.pivot(index="date", columns="ticker", values="close")
    idx = pd.to_datetime(pd.Index(wide.index.astype(str)), errors="coerce", utc=False, format="mixed")
    if idx.isna().any():
        raise DataError(f"{path}: unparseable date {wide.index[idx.isna()][0]!r}")
    if getattr(idx, "tz", None) is not None or any("+" in str(v) or str(v).endswith("Z") for v in wide.index[:5].astype(str)):
        raise DataError(f"{path}: dates carry a timezone; give plain session dates (YYYY-MM-DD)")
    wide.index = idx.normalize()
    wide.index.name = "date"
    non_numeric = [c for c in wide.columns if not pd.api.types.is_numeric_dtype(wide[c])]
    if non_numeric:
        raise DataError(f"{path}: price column(s) {non_numeric[:5]} are not numeric")
    if (wide < 0).any().any():
        ticker = wide.columns[(wide < 0).any()][0]
        raise DataError(f"{path}: negative close for {ticker}")
    return wide.astype("float64").sort_index()


def read_reference_csv(path: Path) -> pd.DataFrame:
    """Read a reference CSV and check its required columns."""
    check_file_size(path)
    frame = pd.read_csv(path)
    missing = set(REFERENCE_COLUMNS[path.name]) - set(frame.columns)
    if missing:
        raise DataError(f"{path}: missing column(s) {sorted(missing)}")
    if path.name == "letf_registry.csv":
        frame["leverage"] = pd.to_numeric(frame["leverage"], errors="coerce")
        frame["aum_usd"] = pd.to_numeric(frame["aum_usd"], errors="coerce")
    return frame


class DirectoryProvider:
    """Prices and reference data from a directory laid out as in this module's docstring."""

    def __init__(self, root: Path, *, name: str, flows_seed: int = 20260204, flows: FlowsConfig | None = None):
        self.root = Path(root)
        self.name = name
        self.flows_config = flows or FlowsConfig(seed=flows_seed)
        self.survivorship_biased = self.root == SAMPLE_DIR  # the sample holds 2026 members only
        if not self.root.is_dir():
            raise DataError(f"data directory {self.root} does not exist")
        self._prices: pd.DataFrame | None = None

    def _price_path(self) -> Path:
        for candidate in ("prices.parquet", "prices.csv"):
            if (self.root / candidate).exists():
                return self.root / candidate
        raise DataError(f"{self.root}: no prices.parquet or prices.csv")

    def _all_prices(self) -> pd.DataFrame:
        if self._prices is None:
            self._prices = read_prices_file(self._price_path())
        return self._prices

    def coverage(self) -> tuple[dt.date, dt.date]:
        idx = self._all_prices().index
        return idx[0].date(), idx[-1].date()

    def prices(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._all_prices().loc[pd.Timestamp(start) : pd.Timestamp(end)]

    def reference_data(self) -> dict[str, pd.DataFrame]:
        out = {}
        for fname in REFERENCE_COLUMNS:
            path = self.root / fname if (self.root / fname).exists() else SAMPLE_DIR / fname
            out[fname.removesuffix(".csv")] = read_reference_csv(path)
        fpath = self.root / "ff_factors_daily.parquet"
        out["factors"] = pd.read_parquet(fpath if fpath.exists() else SAMPLE_DIR / "ff_factors_daily.parquet")
        return out

    def flows(self, start: dt.date, end: dt.date, ret_1d: pd.DataFrame) -> tuple[pd.DataFrame | None, bool]:
        for folder in (self.flows_config.dir, self.root):
            if folder is not None and (folder / "flows.csv").exists():
                check_file_size(folder / "flows.csv")
        result = load_flows(self.flows_config, start, end, ret_1d, px_close=lambda: self.prices(start, end), provider_dir=self.root)
        return result.frame, result.simulated

    def sources(self) -> dict[str, str]:
        out = dict(SAMPLE_SOURCES)
        if self.root != SAMPLE_DIR:
            out["prices"] = "vendor drop: adjusted closes"
            for fname in REFERENCE_COLUMNS:  # reference files the drop brings replace the sample's
                if (self.root / fname).exists():
                    out[fname.removesuffix(".csv")] = "vendor drop"
            if (self.root / "ff_factors_daily.parquet").exists():
                out["factors"] = "vendor drop"
        out["flows"] = flows_source_line(self.flows_config, self.root)
        return out
