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
import logging
from importlib import resources
from pathlib import Path

import pandas as pd

from nightdesk.marketdata.base import DataError, DataFileError
from nightdesk.marketdata.flows_source import FlowsConfig, flows_source_line, load_flows
from nightdesk.marketdata.validate import (
    LONG_PRICE_COLUMNS, MAX_FILE_BYTES, check_file, csv_header, long_to_wide, read_csv_file, read_parquet_file, require_columns,
    validate_prices,
)

__all__ = ["MAX_FILE_BYTES", "SAMPLE_DIR", "DirectoryProvider", "read_prices_file", "read_reference_csv"]

LOG = logging.getLogger(__name__)
SAMPLE_DIR = Path(str(resources.files("nightdesk.marketdata") / "sample"))

REFERENCE_COLUMNS = {
    "sectors.csv": ["snapshot", "ticker", "sector"],
    "reference.csv": ["ticker", "exchange", "market_cap_usd", "as_of"],
    "letf_registry.csv": ["ticker", "leverage", "underlying", "underlying_kind", "underlying_proxy", "aum_usd", "aum_as_of"],
}
"""Columns each reference file must have."""

REFERENCE_LAYOUT = {
    "sectors.csv": ["snapshot", "ticker", "name", "sector", "sub_industry"],
    "reference.csv": ["ticker", "exchange", "market_cap_usd", "index_weight", "as_of"],
    "letf_registry.csv": ["ticker", "name", "issuer", "leverage", "underlying", "underlying_kind", "underlying_proxy", "aum_usd",
                          "aum_as_of", "aum_source"],
}
"""Every column read from each reference file (the layout above); other columns are not read."""

SAMPLE_SOURCES = {
    "prices": "Yahoo Finance adjusted closes (via public GitHub dataset dsturdy/Factor_Attribution), 2015-01-02 to 2026-08-03; illustration sample, survivorship-biased (2026 members only)",
    "sectors": "S&P 500 constituents with GICS sector, snapshots 2012-12-27 to 2026-08-08 (datasets/s-and-p-500-companies, ODC-PDDL)",
    "reference": "Market caps and index weights 2024-12 (Kaggle 'S&P 500 stocks', CC0)",
    "letf_registry": "Leveraged/inverse ETF registry compiled from public ETF tables; AUM dated 2019 to 2026-10",
    "factors": "Kenneth R. French Data Library, daily Fama-French factors and momentum (UMD), 202604 CRSP vintage",
    "flows": "simulated: seeded synthetic retail/institutional flows (illustration only)",
}


def read_prices_file(path: Path) -> pd.DataFrame:
    """Read and validate a prices file (wide parquet or long CSV) into a wide float frame.

    A CSV is read with only its ``date,ticker,close`` columns (other columns cost nothing);
    both layouts go through :func:`marketdata.validate.validate_prices`.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        wide = read_parquet_file(path)
        if not isinstance(wide.index, pd.DatetimeIndex):
            if "date" not in wide.columns:
                raise DataFileError(f"{path}: needs a 'date' index or column")
            wide = wide.set_index("date")
        return validate_prices(wide, str(path))
    require_columns(csv_header(path), LONG_PRICE_COLUMNS, str(path), expected=",".join(LONG_PRICE_COLUMNS))
    text = {"date": "str", "ticker": "str"}
    try:
        long = read_csv_file(path, usecols=LONG_PRICE_COLUMNS, dtype={**text, "close": "float64"})
    except (ValueError, TypeError) as exc:
        if isinstance(exc, DataError):
            raise
        long = read_csv_file(path, usecols=LONG_PRICE_COLUMNS, dtype={**text, "close": "str"})  # to name the bad row
    return long_to_wide(long, str(path))


def read_reference_csv(path: Path) -> pd.DataFrame:
    """Read a reference CSV (only the columns of its layout) and check its required columns."""
    path = Path(path)
    header = csv_header(path)
    require_columns(header, REFERENCE_COLUMNS[path.name], str(path))
    frame = read_csv_file(path, usecols=[c for c in REFERENCE_LAYOUT[path.name] if c in header])
    if frame.empty:
        raise DataFileError(f"{path}: no rows (only a header)")
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
            raise DataError(f"data directory {self.root} does not exist" if not self.root.exists()
                            else f"data directory {self.root} is not a directory")
        if self.root != SAMPLE_DIR:
            LOG.info("provider %s reads vendor files in %s", name, self.root)  # the path goes to logs, never into a note
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
        out["factors"] = read_parquet_file(fpath if fpath.exists() else SAMPLE_DIR / "ff_factors_daily.parquet")
        return out

    def flows(self, start: dt.date, end: dt.date, ret_1d: pd.DataFrame) -> tuple[pd.DataFrame | None, bool]:
        for folder in (self.flows_config.dir, self.root):
            if folder is not None and (folder / "flows.csv").exists():
                check_file(folder / "flows.csv")
        result = load_flows(self.flows_config, start, end, ret_1d, px_close=lambda: self.prices(start, end), provider_dir=self.root)
        return result.frame, result.simulated

    def sources(self) -> dict[str, str]:
        """Attribution line per input, as printed in the note's Data & methods box: names sources,
        never where the files live on this machine (the folder is logged when the provider is made)."""
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
