"""The local market-data store: seeded from a trimmed sample, updated from a vendor drop built from
the bundled sample, read as provider 'store'; killed updates; staleness of the inputs."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.calendar import sessions_between
from nightdesk.marketdata.directory import SAMPLE_DIR
from nightdesk.marketdata.registry import get_provider, load_market_data
from nightdesk.marketdata.staleness import stale_inputs
from nightdesk.marketdata.store import Store
from nightdesk.settings import Settings

CUT = dt.date(2026, 6, 30)
DAY = dt.date(2026, 8, 3)


def make_drop(folder: Path, start: str = "2026-07-01", tickers_missing: list[str] | None = None) -> Path:
    """A vendor drop (long prices.csv, the directory layout) built from the bundled sample's closes."""
    folder.mkdir(parents=True, exist_ok=True)
    px = pd.read_parquet(SAMPLE_DIR / "prices.parquet").loc[start:]
    if tickers_missing:
        px = px.drop(columns=tickers_missing)
    long = px.stack().rename("close").reset_index()
    long.columns = ["date", "ticker", "close"]
    long["date"] = long["date"].dt.strftime("%Y-%m-%d")
    long.to_csv(folder / "prices.csv", index=False)
    return folder


def store_settings(store_dir: Path, drop: Path) -> Settings:
    return Settings(store={"dir": store_dir, "source": "csv", "source_dir": drop})


def read_state(root: Path) -> tuple[bytes, pd.DataFrame, dict]:
    """Everything a reader of the store sees: manifest bytes, all closes, every reference table."""
    prov = get_provider("store", store_dir=root)
    return (root / "manifest.json").read_bytes(), prov.prices(*prov.coverage()), prov.reference_data()


def assert_same_state(a, b) -> None:
    assert a[0] == b[0]
    pd.testing.assert_frame_equal(a[1], b[1])
    for k in a[2]:
        pd.testing.assert_frame_equal(a[2][k], b[2][k])


@pytest.fixture(scope="module")
def updated_store(tmp_path_factory):
    """Seeded from the sample cut at 2026-06-30, then ``data update --through 2026-08-03`` from a CSV drop."""
    tmp = tmp_path_factory.mktemp("store")
    Store(tmp / "store").seed(SAMPLE_DIR, through=CUT)
    drop = make_drop(tmp / "drop")
    from nightdesk.flows.data import update_store

    report = update_store(store_settings(tmp / "store", drop), DAY)
    return tmp / "store", drop, report


def test_update_appends_only_the_missing_sessions(updated_store):
    root, drop, report = updated_store
    assert report.appended == sessions_between(dt.date(2026, 7, 1), DAY) and len(report.appended) == 23
    assert report.refused == {} and report.readjusted == {}
    # the gate's flags on the new sessions are reported, not removed: SOXL's stale close of 2026-07-31 is one
    assert any(f["ticker"] == "SOXL" and f["check"] == "stale_close" and f["date"] == "2026-07-31" for f in report.flags)
    store, sample = get_provider("store", store_dir=root), get_provider("sample")
    assert store.coverage() == sample.coverage()
    pd.testing.assert_frame_equal(store.prices(*store.coverage()), sample.prices(*sample.coverage()))
    before = (root / "manifest.json").read_bytes()
    from nightdesk.flows.data import update_store

    again = update_store(store_settings(root, drop), DAY)  # nothing missing: nothing written
    assert again.appended == [] and (root / "manifest.json").read_bytes() == before
    assert "vendor drop, 2026-07-01 to 2026-08-03" in store.sources()["prices"] and str(drop) not in json.dumps(store.sources())


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_facts_from_the_store_equal_facts_from_the_sample(updated_store):
    from nightdesk import facts

    root, _, _ = updated_store
    settings = Settings()
    out = {}
    for name, prov in (("store", get_provider("store", store_dir=root)), ("sample", get_provider("sample"))):
        md = load_market_data(prov, DAY, history_days=settings.history_days)
        record = facts.compute_many([md], settings)[DAY]  # the facts layer's entry point
        assert not isinstance(record, Exception), record
        out[name] = json.loads(facts.to_json(record))
    # the provider's name and its attribution lines differ by design; every figure is byte-identical
    assert out["store"]["meta"]["provider"] == "store" and out["sample"]["meta"]["provider"] == "sample"
    for f in out.values():
        for key in ("provider", "sources", "survivorship_biased"):
            f["meta"].pop(key)
    dump = {k: json.dumps(v, ensure_ascii=False, indent=1) for k, v in out.items()}
    assert dump["store"] == dump["sample"]
    assert len(dump["store"]) > 10_000


def _child(root: Path, drop: Path, kill_point: str) -> subprocess.Popen:
    """``nightdesk data update`` in a child process that stops (and waits to be killed) at ``kill_point``."""
    code = f"""
import os, sys, time
import nightdesk.marketdata.store as st
point = {kill_point!r}
def stop():
    print("READY", flush=True)
    time.sleep(600)
if point == "before_manifest_replace":
    real = os.replace
    def replace(src, dst):
        if str(dst).endswith("manifest.json"):
            stop()
        return real(src, dst)
    st.os.replace = replace
else:  # half of the new manifest written
    real_write = st._write_bytes_durably
    def write(path, data):
        if "manifest" in path.name:
            with open(path, "xb") as fh:
                fh.write(data[: len(data) // 2]); fh.flush(); os.fsync(fh.fileno())
            stop()
        return real_write(path, data)
    st._write_bytes_durably = write
from nightdesk.cli import app
app(["data", "update", "--through", "2026-08-03", "--store-dir", {str(root)!r}, "--source", "csv", "--source-dir", {str(drop)!r}])
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("kill_point", ["before_manifest_replace", "half_written_manifest"])
def test_an_update_killed_midway_leaves_the_store_as_it_was(tmp_path, kill_point):
    root = tmp_path / "store"
    Store(root).seed(SAMPLE_DIR, through=CUT)
    drop = make_drop(tmp_path / "drop")
    before = read_state(root)
    files_before = {p for p in root.rglob("*") if p.is_file()}
    child = _child(root, drop, kill_point)
    try:
        line = child.stdout.readline()
        assert line.strip() == "READY", child.stderr.read()
        new_files = {p for p in root.rglob("*") if p.is_file()} - files_before
        assert any(p.suffix == ".arrow" for p in new_files)  # the new partition was written ...
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.stderr.close()
    assert_same_state(read_state(root), before)  # ... and the store reads exactly as before
    # the next update takes the lock (released by the kernel), commits, and removes the orphans
    from nightdesk.flows.data import update_store

    rep = update_store(store_settings(root, drop), DAY)
    assert rep.appended[-1] == DAY
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    m = json.loads((root / "manifest.json").read_text())
    referenced = set(m["prices"]["partitions"].values()) | {t["file"] for t in m["tables"].values()} | set(m["previous_files"])
    assert files - {"manifest.json", ".lock"} == referenced
    sample = get_provider("sample")
    pd.testing.assert_frame_equal(get_provider("store", store_dir=root).prices(*sample.coverage()), sample.prices(*sample.coverage()))


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_a_session_short_of_members_is_not_appended(tmp_path):
    """A drop whose 2026-07-02 lacks most members: 07-01 is appended, 07-02 and later are refused (no gaps)."""
    from nightdesk.flows.data import update_store

    root = tmp_path / "store"
    Store(root).seed(SAMPLE_DIR, through=CUT)
    drop = make_drop(tmp_path / "drop")
    long = pd.read_csv(drop / "prices.csv")
    sectors = pd.read_csv(SAMPLE_DIR / "sectors.csv")
    members = set(sectors.loc[sectors["snapshot"] == "2025-04-01", "ticker"])
    gone = (long["date"] == "2026-07-02") & long["ticker"].isin(sorted(members)[:100])
    long[~gone].to_csv(drop / "prices.csv", index=False)
    rep = update_store(store_settings(root, drop), DAY)
    assert rep.appended == [dt.date(2026, 7, 1)]
    assert "2026-07-02" in rep.refused and "index members have a close" in rep.refused["2026-07-02"]
    assert get_provider("store", store_dir=root).coverage()[1] == dt.date(2026, 7, 1)


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_split_in_the_source_readjusts_the_stored_history(tmp_path):
    """The source restates a ticker's history (a 4:1 split): the overlap session shows it and the store follows."""
    from nightdesk.flows.data import update_store

    root = tmp_path / "store"
    Store(root).seed(SAMPLE_DIR, through=CUT)
    drop = make_drop(tmp_path / "drop", start="2026-06-30")
    long = pd.read_csv(drop / "prices.csv")
    long.loc[long["ticker"] == "AAPL", "close"] /= 4
    long.to_csv(drop / "prices.csv", index=False)
    rep = update_store(store_settings(root, drop), DAY)
    assert set(rep.readjusted) == {"AAPL"} and rep.readjusted["AAPL"] == pytest.approx(0.25, rel=1e-6)
    px = get_provider("store", store_dir=root).prices(dt.date(2026, 6, 1), DAY)["AAPL"]
    ref = get_provider("sample").prices(dt.date(2026, 6, 1), DAY)["AAPL"] / 4
    assert (px / ref - 1).abs().max() < 1e-6  # no one-day -75% at the seam


def test_store_errors_name_the_input(tmp_path):
    with pytest.raises(DataError, match="no store here yet"):
        get_provider("store", store_dir=tmp_path / "none").coverage()
    Store(tmp_path / "s").seed(SAMPLE_DIR, through=CUT)
    with pytest.raises(DataError, match="already seeded"):
        Store(tmp_path / "s").seed(SAMPLE_DIR)
    with Store(tmp_path / "s").lock(), pytest.raises(DataError, match="another update is running"):
        with Store(tmp_path / "s").lock():
            pass


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_cli_update_reports_and_bad_dates(tmp_path):
    from typer.testing import CliRunner

    from nightdesk.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["data", "update", "--through", "2026-13-01", "--store-dir", str(tmp_path / "s")])
    assert res.exit_code == 2 and "--through '2026-13-01' is not a date" in res.output
    Store(tmp_path / "s").seed(SAMPLE_DIR, through=dt.date(2026, 7, 28))
    drop = make_drop(tmp_path / "drop", start="2026-07-29")
    res = runner.invoke(app, ["data", "update", "--through", "2026-08-03", "--store-dir", str(tmp_path / "s"),
                              "--source", "csv", "--source-dir", str(drop)])
    assert res.exit_code == 0, res.output
    assert "appended 4 sessions 2026-07-29 to 2026-08-03" in res.output and "flagged 2026-07-31 SOXL: stale_close" in res.output
    res = runner.invoke(app, ["data", "status", "--store-dir", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "as of letf_aum: 2019-12-31  STALE" in res.output and "as of prices: 2026-08-03\n" in res.output


# ----- staleness -------------------------------------------------------------------------------
def test_as_of_of_every_input_on_the_sample(sample_provider):
    md = load_market_data(sample_provider, DAY, history_days=700, flows_window_days=5)
    assert md.survivorship_biased
    assert md.as_of == {"prices": DAY, "membership": dt.date(2025, 4, 1), "reference": dt.date(2024, 12, 31),
                        "letf_aum": dt.date(2019, 12, 31), "factors": dt.date(2026, 4, 30), "flows": DAY}
    limits = Settings().staleness.model_dump()
    stale = {s.input: s.age_days for s in stale_inputs(md.as_of, DAY, limits)}
    assert stale == {"membership": 489, "reference": 580, "letf_aum": 2407, "factors": 95}


def test_stale_inputs_limits_are_strict_and_future_data_is_fresh():
    day = dt.date(2026, 8, 3)
    as_of = {"letf_aum": day - dt.timedelta(days=35), "factors": day - dt.timedelta(days=76), "membership": dt.date(2026, 8, 8)}
    out = stale_inputs(as_of, day, {"letf_aum": 35, "factors": 75, "membership": 100})
    assert [(s.input, s.age_days, s.limit_days) for s in out] == [("factors", 76, 75)]
    assert stale_inputs(as_of, day, {}) == []


def test_an_update_during_a_session_takes_only_final_closes(tmp_path):
    """Asked at 15:00 New York time on 2026-08-03, the source's 'close' for that day is a running price:
    the update stops at 2026-07-31; sessions the source lacks are listed, not refused."""
    from nightdesk.flows.data import update_store

    root = tmp_path / "store"
    Store(root).seed(SAMPLE_DIR, through=dt.date(2026, 7, 29))
    drop = make_drop(tmp_path / "drop", start="2026-07-30")
    s = store_settings(root, drop)
    rep = update_store(s, dt.date(2026, 8, 3), now=dt.datetime(2026, 8, 3, 19, 0, tzinfo=dt.timezone.utc))
    assert rep.appended == [dt.date(2026, 7, 30), dt.date(2026, 7, 31)] and rep.unavailable == [] and rep.refused == {}
    rep = update_store(s, dt.date(2026, 8, 5), now=dt.datetime(2026, 8, 6, 12, 0, tzinfo=dt.timezone.utc))
    assert rep.appended == [DAY] and rep.unavailable == [dt.date(2026, 8, 4), dt.date(2026, 8, 5)] and rep.refused == {}


def test_the_note_flow_fetches_from_the_store(updated_store):
    """``nightdesk run --provider store`` puts the store folder in ``data_dir``, which the flow's fetch hands
    to ``get_provider``; ``provider_from_settings`` (the settings-built route) reads ``store.dir``."""
    from nightdesk.marketdata.registry import provider_from_settings

    root, _, _ = updated_store
    s = Settings(provider="store", data_dir=root, store={"dir": root})
    for prov in (get_provider(s.provider, data_dir=s.data_dir, flows_seed=s.flows_seed), provider_from_settings(s)):
        md = load_market_data(prov, DAY, history_days=700, flows_window_days=1)
        assert md.provider == "store" and md.px_close.index[-1].date() == DAY and md.as_of["prices"] == DAY
        assert md.survivorship_biased  # seeded from the sample: still its 2026 members only


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_a_reader_keeps_its_generation_across_a_commit(tmp_path):
    """A provider reads the generation it opened; a commit meanwhile keeps that generation's files."""
    from nightdesk.flows.data import update_store

    root = tmp_path / "store"
    Store(root).seed(SAMPLE_DIR, through=dt.date(2026, 7, 29))
    reader = get_provider("store", store_dir=root)
    assert reader.coverage()[1] == dt.date(2026, 7, 29)  # opens generation 1
    update_store(store_settings(root, make_drop(tmp_path / "drop", start="2026-07-30")), DAY)
    assert reader.coverage()[1] == dt.date(2026, 7, 29)
    old = reader.prices(dt.date(2026, 1, 2), dt.date(2026, 8, 3))  # generation 1's 2026 file is still there
    assert old.index[-1].date() == dt.date(2026, 7, 29)
    assert get_provider("store", store_dir=root).coverage()[1] == DAY


@pytest.mark.live
def test_live_update_from_yahoo(tmp_path):
    """The last sessions from Yahoo onto a store seeded from the sample (re-adjustments expected: the sample
    is an older download)."""
    pytest.importorskip("yfinance")
    from nightdesk.flows.data import update_store
    from nightdesk.marketdata.calendar import last_closed_session

    root = tmp_path / "store"
    Store(root).seed(SAMPLE_DIR)
    s = Settings(store={"dir": root, "source": "yfinance"})
    rep = update_store(s, last_closed_session(dt.datetime.now(dt.timezone.utc)))
    assert rep.appended and rep.refused == {}
