"""Every bad input of issues #21 and #24 through the real CLI: one ``error:`` line, exit 2, fast.

Each case is checked before any Prefect flow (or server) starts: exit code 2, exactly one line
on stderr and it starts with ``error:``, no traceback, under 2 s. ``python tests/test_cli_errors.py``
prints the table of input -> message -> exit code -> time.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nightdesk.cli import app

SAMPLE = Path(__file__).resolve().parents[1] / "marketdata" / "sample"


@dataclass(frozen=True)
class Case:
    """One bad input: CLI arguments (``{data}`` is the case's data folder), environment, expected text."""

    name: str
    args: list[str]
    expect: str
    env: dict[str, str] = field(default_factory=dict)
    data: str | None = None  # key of :func:`make_data` building the folder


def make_data(kind: str, root: Path) -> Path:
    """A vendor data folder (or config file) with one fault, built under ``root``."""
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "dup-parquet":
        px = pd.read_parquet(SAMPLE / "prices.parquet")
        pd.concat([px, px.loc[["2026-02-03"]]]).sort_index().to_parquet(folder / "prices.parquet")
    elif kind == "truncated-parquet":
        raw = (SAMPLE / "prices.parquet").read_bytes()
        (folder / "prices.parquet").write_bytes(raw[: len(raw) // 2])
    elif kind == "header-only-csv":
        (folder / "prices.csv").write_text("date,ticker,close\n")
    elif kind == "blank-lines-csv":
        (folder / "prices.csv").write_text("\n\n\n")
    elif kind == "latin1-csv":
        (folder / "prices.csv").write_bytes("date,ticker,close\n2026-02-04,CAFÉ,12.5\n".encode("latin-1"))
    elif kind == "dir-csv":
        (folder / "prices.csv").mkdir(exist_ok=True)
    elif kind == "toml-syntax":
        (folder / "nightdesk.toml").write_text('provider = "sample"\nlangs = ["en",\nquantile = \n')
    elif kind == "not-writable":
        (folder / "file").write_text("x")
    return folder


CASES = [
    Case("weekend", ["run", "--date", "2026-02-07"], "is not a NYSE session (Saturday); the previous session is 2026-02-06"),
    Case("holiday", ["run", "--date", "2026-02-16"], "NYSE holiday (President's Day)); the previous session is 2026-02-13"),
    Case("beyond the data", ["run", "--date", "2026-09-15"], "beyond the provider's data, which ends 2026-08-03"),
    Case("before the history", ["run", "--date", "2010-06-01"], "before the provider's history, which starts 2015-01-02"),
    Case("too little history", ["run", "--date", "2015-06-01"],
         "too early for the provider's history, which starts 2015-01-02: a note needs 252 sessions to form the momentum "
         "baskets, then 202 of L/S returns (no note before 2016-10-20)"),
    Case("beyond the calendar's default range", ["run", "--date", "2031-01-02"], "beyond the provider's data, which ends 2026-08-03"),
    Case("0001-01-01", ["run", "--date", "0001-01-01"], "outside the NYSE calendar"),
    Case("9999-12-31", ["run", "--date", "9999-12-31"], "outside the NYSE calendar"),
    Case("1989-12-29", ["run", "--date", "1989-12-29"], "before the provider's history, which starts 2015-01-02"),
    Case("2030-01-02", ["run", "--date", "2030-01-02"], "beyond the provider's data, which ends 2026-08-03"),
    Case("data check 0001-01-01", ["data", "check", "--date", "0001-01-01"], "outside the NYSE calendar"),
    Case("data check 9999-12-31", ["data", "check", "--date", "9999-12-31"], "outside the NYSE calendar"),
    Case("data check 1989-12-29", ["data", "check", "--date", "1989-12-29"], "before the provider's history"),
    Case("data check 2030-01-02", ["data", "check", "--date", "2030-01-02"], "beyond the provider's data"),
    Case("parquet without --data-dir", ["run", "--provider", "parquet", "--date", "2026-02-04"], "provider 'parquet' needs a data directory"),
    Case("csv without --data-dir", ["data", "check", "--provider", "csv"], "provider 'csv' needs a data directory"),
    Case("--data-dir missing", ["run", "--provider", "parquet", "--data-dir", "/nonexistent/nd", "--date", "2026-02-04"],
         "data directory /nonexistent/nd does not exist"),
    Case("yfinance not installed", ["run", "--provider", "yfinance", "--date", "2026-02-04"], "needs the optional package"),
    Case("$NIGHTDESK_CONFIG missing", ["run", "--date", "2026-02-04"], "NIGHTDESK_CONFIG names /nonexistent/nightdesk.toml",
         env={"NIGHTDESK_CONFIG": "/nonexistent/nightdesk.toml"}),
    Case("TOML syntax error", ["run", "--date", "2026-02-04"], "line 3", env={"NIGHTDESK_CONFIG": "{data}/nightdesk.toml"}, data="toml-syntax"),
    Case("dead PREFECT_API_URL", ["run", "--date", "2026-02-04", "--lang", "en"], "PREFECT_API_URL http://127.0.0.1:9/api is not reachable",
         env={"PREFECT_API_URL": "http://127.0.0.1:9/api"}),
    Case("dead PREFECT_API_URL (deliver)", ["deliver", "--date", "2026-02-04"], "PREFECT_API_URL http://127.0.0.1:9/api is not reachable",
         env={"PREFECT_API_URL": "http://127.0.0.1:9/api"}),
    Case("output folder is under a file", ["run", "--date", "2026-02-04", "--output-dir", "{data}/file/out"],
         "cannot write to output folder", data="not-writable"),
    Case("subscribers list --status bogus", ["subscribers", "list", "--status", "bogus"], "--status bogus unknown"),
    Case("repeated date row (data check)", ["data", "check", "--provider", "parquet", "--data-dir", "{data}", "--date", "2026-02-04"],
         "prices.parquet: date 2026-02-03 appears 2 times", data="dup-parquet"),
    Case("repeated date row (run)", ["run", "--provider", "parquet", "--data-dir", "{data}", "--date", "2026-02-04"],
         "prices.parquet: date 2026-02-03 appears 2 times", data="dup-parquet"),
    Case("truncated parquet", ["data", "check", "--provider", "parquet", "--data-dir", "{data}", "--date", "2026-02-04"],
         "prices.parquet: not a readable parquet file", data="truncated-parquet"),
    Case("header-only CSV", ["data", "check", "--provider", "csv", "--data-dir", "{data}", "--date", "2026-02-04"],
         "prices.csv: no rows", data="header-only-csv"),
    Case("blank-line CSV", ["data", "check", "--provider", "csv", "--data-dir", "{data}", "--date", "2026-02-04"],
         "prices.csv: no header", data="blank-lines-csv"),
    Case("latin-1 CSV", ["data", "check", "--provider", "csv", "--data-dir", "{data}", "--date", "2026-02-04"],
         "prices.csv: not UTF-8 text", data="latin1-csv"),
    Case("prices.csv is a directory", ["run", "--provider", "csv", "--data-dir", "{data}", "--date", "2026-02-04"],
         "prices.csv: is a directory, not a file", data="dir-csv"),
    Case("backfill beyond the calendar", ["backfill", "--start", "9999-01-01", "--end", "9999-12-31"],
         "--start 9999-01-01 is outside the NYSE calendar"),
    Case("backfill beyond the data", ["backfill", "--start", "2027-01-04", "--end", "2027-02-26"], "no session between --start 2027-01-04"),
]


def invoke(case: Case, root: Path, runner: CliRunner) -> tuple[object, float]:
    """Run one case in-process; (click result, seconds)."""
    folder = make_data(case.data, root) if case.data else root
    fill = lambda s: s.replace("{data}", str(folder))  # noqa: E731
    env = {"NIGHTDESK_DELIVERY__DB_URL": f"sqlite:///{root}/subs.db", **{k: fill(v) for k, v in case.env.items()}}
    t0 = time.perf_counter()
    res = runner.invoke(app, [fill(a) for a in case.args], env=env)
    return res, time.perf_counter() - t0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_error_line(case, tmp_path):
    res, elapsed_s = invoke(case, tmp_path, CliRunner())
    lines = res.stderr.splitlines()
    assert res.exit_code == 2, (res.exit_code, res.stderr[-2000:], res.exception)
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-3000:]
    assert "Traceback" not in res.output
    assert case.expect in lines[0], lines[0]
    assert elapsed_s < 2.0, f"{elapsed_s:.2f} s"


@pytest.mark.slow  # a child process
def test_a_real_process_prints_one_line_and_starts_no_server(tmp_path):
    """The same check from a child process (what an operator sees): a weekend date fails in one
    line before Prefect is even imported, so no temporary server is started."""
    import subprocess

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_LOGGING_LEVEL": "INFO"}
    run = subprocess.run([sys.executable, "-m", "nightdesk.cli", "run", "--date", "2026-02-07"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == ["error: --date 2026-02-07 is not a NYSE session (Saturday); "
                                       "the previous session is 2026-02-06 (use --snap to run it)"]
    assert not (tmp_path / "prefect").exists()  # Prefect never started


@pytest.mark.slow  # a child process running the flow up to the momentum facts
def test_a_failure_inside_the_flow_is_one_line_too(tmp_path):
    """2016-10-20 passes the pre-flight bound but has 184 of the 202 L/S sessions the z-score needs:
    the facts step fails inside the flow, and the terminal shows its one line, not Prefect's
    tracebacks of the task and the flow (70 lines before)."""
    import subprocess

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "NIGHTDESK_PREFECT__HOME": str(tmp_path / "local")}
    run = subprocess.run([sys.executable, "-m", "nightdesk.cli", "run", "--date", "2016-10-20", "--lang", "en",
                          "--output-dir", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stderr.splitlines() == ["error: momentum for 2016-10-20: only 184 sessions of L/S history before the date; the "
                                       "z-score needs 202 (plus 252 sessions to form the first baskets): pick a later date or "
                                       "load more history"], run.stderr[-3000:]


if __name__ == "__main__":  # the table for the closing note
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="nd-cli-errors-"))
    print("| input | message | exit | time |\n|---|---|---|---|")
    for c in CASES:
        r, s = invoke(c, root, CliRunner())
        msg = r.stderr.strip().replace("|", "\\|") if r.stderr.strip() else (r.stdout.strip() or repr(r.exception))[-300:]
        print(f"| {c.name}: `{' '.join(c.args)}`{' ' + str(c.env) if c.env else ''} | {msg} | {r.exit_code} | {s:.2f} s |")
    shutil.rmtree(root, ignore_errors=True)
