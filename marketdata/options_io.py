"""SPY option open interest, for dealer gamma exposure (GEX) in the LETF section.

One CSV per note date, ``<options_dir>/<YYYY-MM-DD>.csv``, from any vendor or an exchange
end-of-day file, with columns::

    expiry,strike,type,open_interest,iv
    2026-02-20,690,C,41250,0.182

``type`` is C/P (or call/put), ``iv`` the implied volatility as a fraction. The file must be
for SPY (strikes in SPY dollars): the gamma is computed against SPY's close. Without a file the
note says dealer gamma is not covered; nothing is ever invented.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.validate import check_file

OPTIONS_COLUMNS = ["expiry", "strike", "type", "open_interest", "iv"]


def options_path(options_dir: Path, day: dt.date) -> Path:
    """Where the open-interest file for ``day`` lives."""
    return Path(options_dir) / f"{day.isoformat()}.csv"


def read_options_oi(path: Path) -> pd.DataFrame:
    """Read and validate one open-interest file.

    Returns
    -------
    pandas.DataFrame
        ``expiry`` (Timestamp), ``strike``, ``type`` ('C'/'P'), ``open_interest``, ``iv``.

    Raises
    ------
    DataError
        Naming the file, the row (1-based, header = row 1) and what is wrong.
    """
    check_file(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in OPTIONS_COLUMNS if c not in raw.columns]
    if missing or raw.empty:
        raise DataError(f"{path}: " + (f"missing columns {missing} (need {', '.join(OPTIONS_COLUMNS)})" if missing else "no rows"))
    out = pd.DataFrame({
        "expiry": pd.to_datetime(raw["expiry"], format="%Y-%m-%d", errors="coerce"),
        "strike": pd.to_numeric(raw["strike"], errors="coerce"),
        "type": raw["type"].str.strip().str.upper().str[0],
        "open_interest": pd.to_numeric(raw["open_interest"], errors="coerce"),
        "iv": pd.to_numeric(raw["iv"], errors="coerce"),
    })
    checks = [
        (out["expiry"].isna(), "expiry is not a YYYY-MM-DD date"),
        (~(out["strike"] > 0), "strike must be a positive number"),
        (~out["type"].isin(["C", "P"]), "type must be C or P (call/put)"),
        (~(out["open_interest"] >= 0), "open_interest must be a number >= 0"),
        (~((out["iv"] > 0) & (out["iv"] <= 5)), "iv must be a fraction in (0, 5]: 0.18 for 18%"),
    ]
    for bad, what in checks:
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(f"{path}, row {i + 2}: {what} (got {raw.iloc[i].to_dict()})")
    return out


def load_options(options_dir: Path | None, day: dt.date) -> pd.DataFrame | None:
    """The day's open interest when ``options_dir`` holds a file for it, else None."""
    if options_dir is None:
        return None
    path = options_path(options_dir, day)
    return read_options_oi(path) if path.exists() else None
