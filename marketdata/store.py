"""A local market-data store: prices in yearly partitions, reference tables beside them, and one
``manifest.json`` that says which files make up the store.

Layout under the store folder (``settings.store.dir``)::

    manifest.json                    the current generation: files, sources, as-of dates
    prices/<year>.<token>.arrow      wide adjusted closes (date x ticker, float32, as the sample),
                                     Arrow IPC (Feather v2), uncompressed
    ref/<token>/<name>               sectors.csv, reference.csv, letf_registry.csv, ff_factors_daily.parquet
    .lock                            held (flock) by the one writer

Files are never modified in place. A commit writes new files under fresh names, flushes them to
disk, and then replaces ``manifest.json`` with :func:`os.replace` (atomic on POSIX). A reader
opens the manifest once and reads only the files it names, so an update that fails or is killed
at any point leaves the store reading exactly as before; the files it had written are orphans,
removed by the next commit. A commit keeps the previous generation's files, so a reader that
opened the previous manifest can still finish.

Closes are stored as float32, the precision of the bundled sample: the same closes give the same
frame whichever source (sample, CSV or Parquet drop, Yahoo) delivered them. Partitions are Arrow
IPC, not Parquet: with 716 columns a year, twelve Parquet files cost 0.8-1.2 s to read (every
column chunk of every file decoded apart), twelve uncompressed IPC files 0.02 s (11.5 MB on disk
against 9.4 MB for the sample's one zstd Parquet file).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.directory import REFERENCE_COLUMNS, SAMPLE_DIR, SAMPLE_SOURCES, read_reference_csv

FORMAT = 1
MANIFEST = "manifest.json"
TABLE_FILES = {"sectors": "sectors.csv", "reference": "reference.csv", "letf_registry": "letf_registry.csv",
               "factors": "ff_factors_daily.parquet"}
"""Reference table -> its file name (the names :mod:`marketdata.directory` reads)."""
HISTORY_KEPT = 50
SOURCE_LABELS = {"sample": "bundled sample (Yahoo Finance adjusted closes)", "yfinance": "Yahoo Finance via yfinance",
                 "parquet": "vendor drop", "csv": "vendor drop"}
"""Price source -> how the data appendix names it (no paths: readers see these)."""


@dataclass(frozen=True)
class Commit:
    """What a commit changed: its generation, a one-line summary and the files it wrote."""

    generation: int
    summary: str
    files: tuple[str, ...]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` and flush it to disk."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def table_as_of(name: str, frame: pd.DataFrame) -> dt.date | None:
    """The date a reference table describes: latest snapshot, cap date, oldest AUM anchor, last factor day."""
    if frame.empty:
        return None
    if name == "sectors":
        return pd.Timestamp(frame["snapshot"].max()).date()
    if name == "reference":
        return pd.to_datetime(frame["as_of"]).max().date()
    if name == "letf_registry":
        from nightdesk.analytics.letf import aum_as_of_date

        anchors = aum_as_of_date(frame).dropna()
        return anchors.min().date() if len(anchors) else None
    if name == "factors":
        return pd.Timestamp(frame.index.max()).date()
    raise KeyError(name)


def _years(index: pd.DatetimeIndex) -> list[int]:
    return sorted(set(int(y) for y in index.year))


class Store:
    """The store folder: read the current generation, commit a new one.

    Parameters
    ----------
    root : pathlib.Path
        The store folder (created on first commit).
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    # ----- reading -------------------------------------------------------------------------
    def exists(self) -> bool:
        """True when the folder holds a committed store."""
        return (self.root / MANIFEST).is_file()

    def manifest(self) -> dict:
        """The current manifest (a :class:`DataError` naming the folder when there is none or it is unreadable)."""
        path = self.root / MANIFEST
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"store {self.root}: no store here yet; run 'nightdesk data update' (a cold store is seeded from the bundled sample)") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"store {self.root}: manifest.json unreadable ({exc})") from None
        if m.get("format") != FORMAT:
            raise DataError(f"store {self.root}: manifest format {m.get('format')!r}, this version reads {FORMAT}")
        return m

    def read_prices(self, start: dt.date | None = None, end: dt.date | None = None, *, manifest: dict | None = None) -> pd.DataFrame:
        """Closes (float64, wide, index ``date``) from ``start`` to ``end``, reading only the years they span."""
        m = manifest or self.manifest()
        p = m["prices"]
        lo = pd.Timestamp(start or p["first"])
        hi = pd.Timestamp(end or p["last"])
        files = [self.root / f for y, f in sorted(p["partitions"].items()) if lo.year <= int(y) <= hi.year]
        if not files:
            return pd.DataFrame(index=pd.DatetimeIndex([], name="date"), columns=pd.Index(p["columns"]), dtype="float64")
        columns = list(p["columns"])
        where = {c: i for i, c in enumerate(columns)}
        blocks, dates = [], []
        for f in files:  # one float32 block per year, laid into the store's columns, then one float64 frame
            table = feather.read_table(f, memory_map=False)
            names = [c for c in table.column_names if c != "date"]
            block = np.full((table.num_rows, len(columns)), np.nan, dtype="float32")
            block[:, [where[c] for c in names]] = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in names])
            blocks.append(block)
            dates.append(table.column("date").to_numpy())
        index = pd.DatetimeIndex(np.concatenate(dates), name="date").as_unit("us")  # as read_prices_file gives
        wide = pd.DataFrame(np.concatenate(blocks).astype("float64"), index=index, columns=pd.Index(columns, dtype="str"))
        return wide.loc[lo:hi]

    def read_table(self, name: str, *, manifest: dict | None = None) -> pd.DataFrame:
        """A reference table as :mod:`marketdata.directory` would read it from the same file."""
        m = manifest or self.manifest()
        path = self.root / m["tables"][name]["file"]
        if name == "factors":
            return pd.read_parquet(path)
        return read_reference_csv(path)

    # ----- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's writer lock (a second writer gets a :class:`DataError` at once).

        The kernel releases it when the process ends, however it ends (a killed update leaves no lock).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DataError(f"store {self.root}: another update is running (lock held)") from None
            yield
        finally:
            os.close(fd)

    def _token(self, generation: int) -> str:
        return f"g{generation}-{secrets.token_hex(4)}"

    def _write_partition(self, year: int, frame: pd.DataFrame, token: str) -> str:
        rel = f"prices/{year}.{token}.arrow"
        (self.root / "prices").mkdir(parents=True, exist_ok=True)
        out = frame.astype("float32")
        out.index = pd.DatetimeIndex(out.index, name="date").as_unit("us")  # one unit in every partition
        sink = pa.BufferOutputStream()
        feather.write_feather(pa.Table.from_pandas(out, preserve_index=True), sink, compression="uncompressed")
        _write_bytes_durably(self.root / rel, sink.getvalue().to_pybytes())
        return rel

    def _write_table(self, name: str, frame_or_file: pd.DataFrame | Path, token: str) -> str:
        rel = f"ref/{token}/{TABLE_FILES[name]}"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(frame_or_file, Path):
            data = frame_or_file.read_bytes()
        elif name == "factors":
            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pandas(frame_or_file, preserve_index=True), sink, compression="zstd")
            data = sink.getvalue().to_pybytes()
        else:
            data = frame_or_file.to_csv(index=False).encode("utf-8")
        _write_bytes_durably(path, data)
        _fsync_dir(path.parent)
        return rel

    def _commit(self, new: dict, previous: dict | None, summary: str, written: list[str]) -> Commit:
        """Replace the manifest with ``new`` (the atomic step), then remove unreferenced files."""
        new = dict(new)
        new["format"] = FORMAT
        new["generation"] = (previous or {}).get("generation", 0) + 1
        new["committed_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        new["history"] = ((previous or {}).get("history", []) + [{"generation": new["generation"], "at": new["committed_at"], "what": summary}])[-HISTORY_KEPT:]
        new["previous_files"] = sorted(_referenced(previous)) if previous else []
        if (self.root / "prices").is_dir():
            _fsync_dir(self.root / "prices")
        tmp = self.root / f".{MANIFEST}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        _write_bytes_durably(tmp, json.dumps(new, indent=1, sort_keys=True).encode("utf-8"))
        os.replace(tmp, self.root / MANIFEST)
        _fsync_dir(self.root)
        self._collect_garbage(new)
        return Commit(new["generation"], summary, tuple(written))

    def _collect_garbage(self, current: dict) -> None:
        """Remove files referenced by neither the current nor the previous generation (orphans of failed updates)."""
        keep = _referenced(current) | set(current.get("previous_files", []))
        for sub in ("prices", "ref"):
            base = self.root / sub
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                if path.is_file() and path.relative_to(self.root).as_posix() not in keep:
                    path.unlink(missing_ok=True)
            for d in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()  # only empty ones
        for tmp in self.root.glob(f".{MANIFEST}.*.tmp"):
            tmp.unlink(missing_ok=True)

    def seed(self, source_dir: Path = SAMPLE_DIR, *, through: dt.date | None = None) -> Commit:
        """Create the store from a sample-layout folder (default the bundled sample), prices up to ``through``.

        Refuses to overwrite an existing store.
        """
        with self.lock():
            if self.exists():
                raise DataError(f"store {self.root}: already seeded (generation {self.manifest()['generation']}); remove the folder to start over")
            raw = pd.read_parquet(source_dir / "prices.parquet")
            raw.index = pd.DatetimeIndex(pd.to_datetime(raw.index), name="date").normalize()
            raw = raw.sort_index()
            if through is not None:
                raw = raw.loc[: pd.Timestamp(through)]
            if raw.empty:
                raise DataError(f"{source_dir}: no closes on or before {through}")
            token = self._token(1)
            written = [self._write_partition(y, raw[raw.index.year == y], token) for y in _years(raw.index)]
            tables, sources = {}, dict(SAMPLE_SOURCES)
            for name, fname in TABLE_FILES.items():
                src = source_dir / fname
                rel = self._write_table(name, src, token)
                written.append(rel)
                frame = pd.read_parquet(src) if name == "factors" else read_reference_csv(src)
                as_of = table_as_of(name, frame)
                tables[name] = {"file": rel, "source": sources[name], "as_of": as_of.isoformat() if as_of else None,
                                "refreshed_at": dt.date.today().isoformat()}
            first, last = raw.index[0].date(), raw.index[-1].date()
            manifest = {
                "prices": {
                    "first": first.isoformat(), "last": last.isoformat(), "columns": [str(c) for c in raw.columns],
                    "partitions": {str(y): f for y, f in zip(_years(raw.index), written)},
                    "spans": [{"source": "sample", "first": first.isoformat(), "last": last.isoformat()}],
                },
                "tables": tables,
            }
            return self._commit(manifest, None, f"seeded from the bundled sample, closes {first} to {last}", written)

    def append_prices(self, new_rows: pd.DataFrame, *, source: str, readjust: dict[str, float] | None = None) -> Commit:
        """Append sessions after the store's last one, in one commit.

        Parameters
        ----------
        new_rows : pandas.DataFrame
            Wide closes for sessions strictly after the store's last (validated by the caller).
        source : str
            Price source name (``yfinance``, ``parquet``, ``csv``, ``sample``) recorded for these sessions.
        readjust : dict, optional
            Ticker -> factor applied to its stored history first (a split or dividend re-adjustment
            the source reports for the overlap session).
        """
        with self.lock():
            m = self.manifest()
            p = m["prices"]
            last = pd.Timestamp(p["last"])
            if new_rows.empty:
                raise DataError("nothing to append")
            if new_rows.index.min() <= last:
                raise DataError(f"append: session {new_rows.index.min().date()} is not after the store's last ({last.date()})")
            columns = sorted(set(p["columns"]) | set(map(str, new_rows.columns)))
            readjust = {t: f for t, f in (readjust or {}).items() if t in p["columns"]}
            years_new = _years(new_rows.index)
            years = sorted(set(years_new) | ({int(y) for y in p["partitions"]} if readjust else set()))
            token = self._token(m["generation"] + 1)
            partitions, written = dict(p["partitions"]), []
            for y in years:
                old = self.read_prices(dt.date(y, 1, 1), dt.date(y, 12, 31), manifest=m) if str(y) in p["partitions"] else None
                if old is not None and readjust:
                    for t, f in readjust.items():
                        old[t] = old[t] * f
                part = new_rows[new_rows.index.year == y]
                frame = part if old is None else pd.concat([old, part]) if len(part) else old
                rel = self._write_partition(y, frame.reindex(columns=columns), token)
                partitions[str(y)] = rel
                written.append(rel)
            first_new, last_new = new_rows.index[0].date(), new_rows.index[-1].date()
            spans = list(p.get("spans", []))
            if spans and spans[-1]["source"] == source:
                spans[-1] = {**spans[-1], "last": last_new.isoformat()}
            else:
                spans.append({"source": source, "first": first_new.isoformat(), "last": last_new.isoformat()})
            manifest = {**m, "prices": {**p, "last": last_new.isoformat(), "columns": columns, "partitions": partitions, "spans": spans}}
            summary = f"appended {len(new_rows)} sessions {first_new} to {last_new} from {source}"
            if readjust:
                summary += f"; re-adjusted history of {', '.join(sorted(readjust))}"
            return self._commit(manifest, m, summary, written)

    def replace_table(self, name: str, frame: pd.DataFrame, *, source: str, as_of: dt.date | None, summary: str) -> Commit:
        """Commit a new version of one reference table (the others untouched)."""
        if name not in TABLE_FILES:
            raise DataError(f"unknown reference table {name!r}; one of {', '.join(TABLE_FILES)}")
        if name != "factors":
            missing = set(REFERENCE_COLUMNS[TABLE_FILES[name]]) - set(frame.columns)
            if missing:
                raise DataError(f"{name}: refreshed table lacks column(s) {sorted(missing)}")
        with self.lock():
            m = self.manifest()
            token = self._token(m["generation"] + 1)
            rel = self._write_table(name, frame, token)
            tables = {**m["tables"], name: {"file": rel, "source": source, "as_of": as_of.isoformat() if as_of else None,
                                            "refreshed_at": dt.date.today().isoformat()}}
            return self._commit({**m, "tables": tables}, m, summary, [rel])


def _referenced(manifest: dict | None) -> set[str]:
    if not manifest:
        return set()
    return set(manifest["prices"]["partitions"].values()) | {t["file"] for t in manifest["tables"].values()}


def price_sources_line(spans: list[dict]) -> str:
    """The data appendix's line for the store's closes: each source and the sessions it supplied."""
    parts = []
    for s in spans:
        label = SOURCE_LABELS.get(s["source"], s["source"])
        parts.append(f"{label}, {s['first']} to {s['last']}")
    return "; ".join(parts) + ("; survivorship-biased (2026 members only)" if any(s["source"] == "sample" for s in spans) else "")

