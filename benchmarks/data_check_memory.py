"""Peak memory of ``nightdesk data check`` on a wide vendor CSV (issue #24, point 16).

    .venv/bin/python benchmarks/data_check_memory.py [--extra-columns 2000] [--target-gb 0.79] [--keep DIR]

Writes a long ``prices.csv`` (``date,ticker,close`` from the bundled sample's real closes, the
sample's 716 tickers over the sessions up to 2026-02-04) padded with ``--extra-columns``
numeric columns nobody needs, until the file is ``--target-gb`` large, into a temporary folder
(never into the repository: the file is far too big for git or for the tests). Then it runs
``nightdesk data check --provider csv`` on it in a child process and prints the child's peak
resident memory (``ru_maxrss`` from ``wait4``) and wall time. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
NOTE_DATE = "2026-02-04"


def write_wide_csv(path: Path, *, extra_columns: int, target_bytes: int) -> tuple[int, int]:
    """A long prices CSV padded with ``extra_columns`` numeric columns; returns (rows, bytes).

    Rows are the sample's real closes, newest sessions first selected (enough of them to reach
    ``target_bytes``), written in date order.
    """
    px = pd.read_parquet(ROOT / "marketdata" / "sample" / "prices.parquet").astype("float64")
    px = px.loc[:NOTE_DATE]
    pad = "".join(f",{(i % 97) / 8:.2f}" for i in range(extra_columns))  # about 5 bytes a column
    header = "date,ticker,close" + "".join(f",extra_{i:04d}" for i in range(extra_columns)) + "\n"
    row_bytes = len(pad) + 24
    n_dates = max(1, min(len(px), target_bytes // (row_bytes * px.shape[1]) + 1))
    sub = px.iloc[-n_dates:]
    rows = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header)
        for day, closes in sub.iterrows():
            d = day.date().isoformat()
            fh.write("".join(f"{d},{t},{c:.4f}{pad}\n" for t, c in closes.dropna().items()))
            rows += int(closes.notna().sum())
    return rows, path.stat().st_size


def peak_rss_of(cmd: list[str], env: dict) -> tuple[int, float, int, str]:
    """Run ``cmd``; (peak RSS in bytes, wall seconds, exit code, last lines of output)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024, time.perf_counter() - t0, proc.returncode, "\n".join(out.strip().splitlines()[-3:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra-columns", type=int, default=2000)
    ap.add_argument("--target-gb", type=float, default=0.79)
    ap.add_argument("--keep", type=Path, help="write the CSV here and keep it (default: a temporary folder, removed)")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nd-wide-csv-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        path = folder / "prices.csv"
        if not path.exists():
            t = time.perf_counter()
            rows, size = write_wide_csv(path, extra_columns=args.extra_columns, target_bytes=int(args.target_gb * 1e9))
            print(f"wrote {path}: {rows:,} rows x {args.extra_columns + 3} columns, {size / 1e9:.2f} GB in {time.perf_counter() - t:.0f} s")
        env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}
        cmd = [sys.executable, "-m", "nightdesk.cli", "data", "check", "--provider", "csv", "--data-dir", str(folder), "--date", NOTE_DATE]
        rss, wall, code, tail = peak_rss_of(cmd, env)
        print(f"nightdesk data check: peak RSS {rss / 1e9:.2f} GB, {wall:.1f} s, exit {code}")
        print("  " + tail.replace("\n", "\n  "))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
