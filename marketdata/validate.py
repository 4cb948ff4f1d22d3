"""The one validation of what a provider reads: vendor files opened safely, raw frames checked.

``nightdesk data check`` and ``nightdesk run`` read data through the same provider methods,
which call these functions, so a file either passes both or fails both with the same line.
Every failure is a :class:`~nightdesk.marketdata.base.DataError` whose message names the input
(a file, or ``provider <name>``) and what is wrong, in one line:

* reading: :func:`read_csv_file` and :func:`read_parquet_file` turn a directory, a missing or
  unreadable file, bad encoding, blank or truncated files into one line
  (:class:`~nightdesk.marketdata.base.ProviderIOError` for transient I/O, worth a retry;
  :class:`~nightdesk.marketdata.base.DataFileError` for the rest). CSVs are read with only the
  columns a caller needs (``usecols``): a vendor file with 2,000 extra columns costs what the
  three used ones cost.
* checking: :func:`validate_prices` (wide closes: dates, duplicates, numbers, signs) and
  :func:`long_to_wide` (long ``date,ticker,close`` rows).
"""
from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from nightdesk.marketdata.base import DataFileError, ProviderIOError

MAX_FILE_BYTES = 1_000_000_000
"""Largest data file read (bytes); a bigger drop should be split by year."""

TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.ETIMEDOUT, errno.ESTALE, errno.EINTR, errno.ENETDOWN,
                              errno.ENETUNREACH, errno.ECONNRESET, errno.EHOSTUNREACH})
"""``OSError`` numbers worth retrying (a flaky network mount, an interrupted read)."""

LONG_PRICE_COLUMNS = ("date", "ticker", "close")


def check_file(path: Path) -> int:
    """Refuse a directory, a missing, empty or oversize file before reading it; returns its size in bytes."""
    path = Path(path)
    try:
        if path.is_dir():
            raise DataFileError(f"{path}: is a directory, not a file")
        size = path.stat().st_size
    except OSError as exc:
        raise _os_error(path, exc) from None
    if size > MAX_FILE_BYTES:
        raise DataFileError(f"{path}: {size / 1e9:.1f} GB is over the {MAX_FILE_BYTES / 1e9:.0f} GB limit for a data file; split it by year")
    if size == 0:
        raise DataFileError(f"{path}: file is empty")
    return size


def _os_error(path: Path, exc: OSError) -> Exception:
    """The one-line error for an ``OSError`` raised reading ``path``."""
    what = {errno.ENOENT: "no such file", errno.EACCES: "permission denied", errno.EISDIR: "is a directory, not a file"}.get(
        exc.errno, exc.strerror or exc.__class__.__name__)
    cls = ProviderIOError if exc.errno in TRANSIENT_ERRNOS else DataFileError
    return cls(f"{path}: cannot read it ({what})" if exc.errno != errno.EISDIR else f"{path}: {what}")


def first_non_utf8(path: Path, *, chunk_bytes: int = 1 << 20) -> tuple[int, int, int] | None:
    r"""(line number, byte offset, byte) of the first bytes of ``path`` that are not UTF-8, or None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_bytes("date,ticker\n2026-02-04,CAFÉ\n".encode("latin-1"))
    >>> first_non_utf8(p)
    (2, 26, 201)
    """
    carry, base, lines = b"", 0, 1
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(chunk_bytes)
            data = carry + chunk
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data" and chunk:  # a character split by the chunk's end
                    carry, good = data[exc.start :], data[: exc.start]
                    lines, base = lines + good.count(b"\n"), base + len(good)
                    continue
                return lines + data[: exc.start].count(b"\n"), base + exc.start, data[exc.start]
            if not chunk:
                return None
            carry, lines, base = b"", lines + data.count(b"\n"), base + len(data)


def _decode_error(path: Path) -> DataFileError:
    where = first_non_utf8(path)
    detail = f" (line {where[0]}: byte 0x{where[2]:02x} at offset {where[1]})" if where else ""
    return DataFileError(f"{path}: not UTF-8 text{detail}; save the file as UTF-8")


def csv_header(path: Path) -> list[str]:
    """Column names of a CSV (its first non-blank line), with the reading errors of :func:`read_csv_file`."""
    return list(read_csv_file(path, nrows=0).columns)


def read_csv_file(path: Path, *, usecols: Sequence[str] | None = None, dtype: dict | None = None, nrows: int | None = None) -> pd.DataFrame:
    """``pandas.read_csv`` of a vendor file with every reading failure turned into one line.

    Parameters
    ----------
    path : Path
        The CSV (UTF-8, header line first).
    usecols : sequence of str, optional
        Only these columns are parsed and kept (each must be in the header).
    dtype, nrows
        As for :func:`pandas.read_csv`.

    Raises
    ------
    DataFileError
        A directory, an empty, blank-only, non-UTF-8 or unparseable file.
    ProviderIOError
        A transient I/O error (see :data:`TRANSIENT_ERRNOS`).
    """
    path = Path(path)
    check_file(path)
    try:
        return pd.read_csv(path, usecols=list(usecols) if usecols is not None else None, dtype=dtype, nrows=nrows, encoding="utf-8")
    except UnicodeDecodeError:
        raise _decode_error(path) from None
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: no header line (the file holds only blank lines)") from None
    except pd.errors.ParserError as exc:
        raise DataFileError(f"{path}: not a readable CSV ({str(exc).strip().splitlines()[0]})") from None
    except OSError as exc:
        raise _os_error(path, exc) from None


def read_parquet_file(path: Path, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``pandas.read_parquet`` of a vendor file (only ``columns`` when given), one line on failure."""
    import pyarrow as pa

    path = Path(path)
    check_file(path)
    try:
        return pd.read_parquet(path, columns=list(columns) if columns is not None else None)
    except OSError as exc:
        if exc.errno is not None:
            raise _os_error(path, exc) from None
        raise DataFileError(f"{path}: not a readable parquet file ({str(exc).strip().splitlines()[0]})") from None
    except (pa.ArrowException, ValueError) as exc:
        raise DataFileError(f"{path}: not a readable parquet file ({str(exc).strip().splitlines()[0]})") from None


def require_columns(columns: Sequence[str], need: Sequence[str], source: str, *, expected: str | None = None) -> None:
    """Fail naming ``source`` unless every name of ``need`` is in ``columns``."""
    missing = sorted(set(need) - set(columns))
    if missing:
        raise DataFileError(f"{source}: missing column(s) {missing}" + (f"; expected {expected}" if expected else ""))


def long_to_wide(long: pd.DataFrame, source: str) -> pd.DataFrame:
    """Long ``date,ticker,close`` rows -> wide closes (validated by :func:`validate_prices`).

    ``close`` may hold text (as read when a fast numeric read failed): the first value that is
    not a number is named with its row (header = row 1).
    """
    require_columns(long.columns, LONG_PRICE_COLUMNS, source, expected=",".join(LONG_PRICE_COLUMNS))
    if long.empty:
        raise DataFileError(f"{source}: no rows (only a header)")
    close = pd.to_numeric(long["close"], errors="coerce")
    bad = close.isna() & long["close"].notna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataFileError(f"{source}: row {row + 2}: close {long['close'].iloc[row]!r} is not a number")
    blank = long["date"].isna() | long["ticker"].isna()
    if blank.any():
        row = int(blank.to_numpy().argmax())
        raise DataFileError(f"{source}: row {row + 2}: empty date or ticker")
    long = long.assign(close=close)
    dup = long.duplicated(["date", "ticker"], keep=False)
    if dup.any():
        row = int(dup.to_numpy().argmax())
        raise DataFileError(f"{source}: row {row + 2}: duplicate (date, ticker) = ({long['date'].iloc[row]}, {long['ticker'].iloc[row]})")
    return validate_prices(long.pivot(index="date", columns="ticker", values="close"), source)


def validate_prices(wide: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a wide frame of closes and return it clean: float64, dates normalised and sorted.

    Parameters
    ----------
    wide : pandas.DataFrame
        Index = dates (or date strings), columns = tickers, values = closes (USD).
    source : str
        What to name in an error: the file, or ``provider <name>``.

    Raises
    ------
    DataFileError
        No rows or no columns, a ticker twice, an unparseable date or one with a timezone, a
        date on more than one row, a non-numeric column or a negative close.
    """
    if wide.shape[0] == 0:
        raise DataFileError(f"{source}: no rows")
    if wide.shape[1] == 0:
        raise DataFileError(f"{source}: no price columns")
    twice = wide.columns[wide.columns.duplicated()]
    if len(twice):
        raise DataFileError(f"{source}: ticker {twice[0]!r} has more than one column")
    raw = wide.index
    if isinstance(raw, pd.DatetimeIndex):
        if raw.tz is not None:
            raise DataFileError(f"{source}: dates carry a timezone; give plain session dates (YYYY-MM-DD)")
        idx = raw
        if idx.isna().any():
            raise DataFileError(f"{source}: a row has no date")
    else:
        text = pd.Index(raw.astype(str))
        if any("+" in v or v.endswith("Z") for v in text[:5]):
            raise DataFileError(f"{source}: dates carry a timezone; give plain session dates (YYYY-MM-DD)")
        idx = pd.DatetimeIndex(pd.to_datetime(text, errors="coerce", format="mixed"))
        if idx.isna().any():
            raise DataFileError(f"{source}: unparseable date {raw[idx.isna()][0]!r}")
        if idx.tz is not None:
            raise DataFileError(f"{source}: dates carry a timezone; give plain session dates (YYYY-MM-DD)")
    idx = idx.normalize().as_unit("us")  # one resolution whatever the source (parquet may store ms): frames compare equal
    if idx.has_duplicates:
        counts = idx.value_counts()
        repeated = counts[counts > 1].sort_index()
        more = f" (and {len(repeated) - 1} more dates)" if len(repeated) > 1 else ""
        raise DataFileError(f"{source}: date {repeated.index[0].date().isoformat()} appears {int(repeated.iloc[0])} times{more}; "
                            "give one row per session")
    non_numeric = [c for c in wide.columns if not pd.api.types.is_numeric_dtype(wide[c])]
    if non_numeric:
        raise DataFileError(f"{source}: price column(s) {non_numeric[:5]} are not numeric")
    out = wide.astype("float64")
    out.index = idx
    out.index.name = "date"
    negative = (out < 0).any()
    if negative.any():
        raise DataFileError(f"{source}: negative close for {negative.index[negative.to_numpy()][0]}")
    return out.sort_index()
