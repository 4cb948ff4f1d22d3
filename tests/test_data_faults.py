"""Reading data (issue #24, points 13-18): one validation, one line per bad file, any date answered,
unadjusted splits caught in volatile names, no local path in a published note."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from nightdesk.marketdata.base import CalendarError, DataError, DataFileError, DataNotYetAvailable
from nightdesk.marketdata.directory import SAMPLE_DIR, DirectoryProvider, read_prices_file
from nightdesk.marketdata.registry import get_provider, load_market_data, resolve_date


@pytest.fixture(scope="module")
def sample_px() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE_DIR / "prices.parquet")


# --- 13: a repeated date row fails data check and run alike, in one line naming the file -----------

def test_repeated_date_row_in_parquet_is_one_error_for_check_and_run(tmp_path, sample_px):
    pd.concat([sample_px, sample_px.loc[["2026-02-03"]]]).sort_index().to_parquet(tmp_path / "prices.parquet")
    prov = DirectoryProvider(tmp_path, name="parquet")
    with pytest.raises(DataFileError, match=r"prices\.parquet: date 2026-02-03 appears 2 times; give one row per session") as exc:
        prov.coverage()  # what run's pre-flight and data check both call first
    assert str(tmp_path / "prices.parquet") in str(exc.value)
    with pytest.raises(DataFileError, match="appears 2 times"):
        load_market_data(DirectoryProvider(tmp_path, name="parquet"), dt.date(2026, 2, 4), history_days=700)  # the flow's read


def test_every_provider_frame_goes_through_the_same_check(sample_provider):
    """A provider that is not a vendor folder (e.g. a live one) is checked too, named by provider."""

    class Doubled:
        name = "live"

        def coverage(self):
            return sample_provider.coverage()

        def prices(self, start, end):
            px = sample_provider.prices(start, end)
            return pd.concat([px, px.iloc[[-1]]])

        def __getattr__(self, item):
            return getattr(sample_provider, item)

    with pytest.raises(DataFileError, match="provider live: date 2026-02-04 appears 2 times"):
        load_market_data(Doubled(), dt.date(2026, 2, 4), history_days=700)


# --- 15: unreadable files: one line each ---------------------------------------------------------

@pytest.mark.parametrize("kind,match", [
    ("truncated parquet", r"prices\.parquet: not a readable parquet file"),
    ("header-only csv", r"prices\.csv: no rows \(only a header\)"),
    ("blank-line csv", r"prices\.csv: no header line \(the file holds only blank lines\)"),
    ("latin-1 csv", r"prices\.csv: not UTF-8 text \(line 2: byte 0xc9 at offset 32\); save the file as UTF-8"),
    ("csv is a directory", r"prices\.csv: is a directory, not a file"),
    ("reference csv latin-1", r"sectors\.csv: not UTF-8 text \(line 2: byte 0xc9"),
    ("reference csv header only", r"sectors\.csv: no rows"),
])
def test_unreadable_vendor_files_are_one_line(tmp_path, sample_px, kind, match):
    if kind == "truncated parquet":
        raw = (SAMPLE_DIR / "prices.parquet").read_bytes()
        (tmp_path / "prices.parquet").write_bytes(raw[: len(raw) // 2])
    elif kind == "header-only csv":
        (tmp_path / "prices.csv").write_text("date,ticker,close\n")
    elif kind == "blank-line csv":
        (tmp_path / "prices.csv").write_text("\n\n\n")
    elif kind == "latin-1 csv":
        (tmp_path / "prices.csv").write_bytes("date,ticker,close\n2026-02-04,CAFÉ,12.5\n".encode("latin-1"))
    elif kind == "csv is a directory":
        (tmp_path / "prices.csv").mkdir()
    else:
        sample_px.to_parquet(tmp_path / "prices.parquet")
        body = "snapshot,ticker,name,sector,sub_industry\n"
        (tmp_path / "sectors.csv").write_bytes((body + "2026-01-02,NESTLÉ,Nestlé,Staples,\n").encode("latin-1") if "latin" in kind
                                               else body.encode())
    prov = DirectoryProvider(tmp_path, name="csv")
    with pytest.raises(DataError, match=match) as exc:
        prov.coverage() if "reference" not in kind else prov.reference_data()
    assert "\n" not in str(exc.value) and str(tmp_path) in str(exc.value)


def test_csv_with_extra_columns_reads_only_three(tmp_path):
    """Point 16: the extra columns are never parsed (they would hold text pandas cannot cast)."""
    rows = "".join(f"2026-02-0{d},T{t},{10 + d + t}.5,{'x' * 50},junk\n" for d in (2, 3, 4) for t in range(3))
    (tmp_path / "prices.csv").write_text("date,ticker,close,comment,other\n" + rows)
    wide = read_prices_file(tmp_path / "prices.csv")
    assert list(wide.columns) == ["T0", "T1", "T2"] and wide.shape == (3, 3) and wide.dtypes.eq("float64").all()
    assert wide.at[pd.Timestamp("2026-02-04"), "T2"] == 16.5


# --- 17: the vendor path is logged, never printed in the note ------------------------------------

def test_vendor_path_is_not_in_the_notes_sources(tmp_path, sample_px, caplog):
    import logging

    secret = tmp_path / "vendor-drop-acme-2026"
    secret.mkdir()
    sample_px.to_parquet(secret / "prices.parquet")
    with caplog.at_level(logging.INFO, logger="nightdesk.marketdata.directory"):
        prov = get_provider("parquet", data_dir=secret)
    sources = prov.sources()
    assert not any(str(secret) in v or "vendor-drop-acme" in v for v in sources.values()), sources
    assert sources["prices"] == "vendor drop: adjusted closes"
    assert str(secret) in caplog.text  # where the files are goes to the log


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_vendor_note_text_has_no_local_path(tmp_path, sample_px):
    """The Data & methods box of every edition, composed from a vendor provider's sources."""
    from nightdesk import facts as facts_layer
    from nightdesk.narrative.compose import compose_note
    from nightdesk.settings import Settings

    secret = tmp_path / "vendor-drop-acme-2026"
    secret.mkdir()
    sample_px.to_parquet(secret / "prices.parquet")
    md = load_market_data(get_provider("parquet", data_dir=secret), dt.date(2026, 2, 4), history_days=700)
    facts = facts_layer.compute(md, Settings(history_days=700, langs=["en"]))
    for lang in ("en", "zh-Hant", "zh-Hans"):
        text = repr(compose_note(facts, lang))
        assert "vendor-drop-acme" not in text and str(tmp_path) not in text
    assert "vendor drop" in repr(compose_note(facts, "en"))


# --- 18: any date gets an answer -----------------------------------------------------------------

@pytest.mark.parametrize("day,session,why", [
    ("0001-01-01", False, "outside the NYSE calendar"),
    ("9999-12-31", False, "outside the NYSE calendar"),
    ("1989-12-29", True, ""),
    ("1989-12-25", False, "NYSE holiday (Christmas)"),
    ("2030-01-02", True, ""),
    ("2031-01-01", False, "NYSE holiday (New Year"),
    ("2031-01-04", False, "Saturday"),
])
def test_calendar_answers_any_date(day, session, why):
    from nightdesk.marketdata.calendar import is_session, previous_session, why_not_session

    d = dt.date.fromisoformat(day)
    assert is_session(d) is session
    if not session:
        assert why in why_not_session(d)
    if "outside" in why:
        with pytest.raises(CalendarError, match=f"date {day} is outside the NYSE calendar, which covers 1885-01-01 to 2200-12-31"):
            previous_session(d)
    else:
        prev = previous_session(d)
        assert prev < d and is_session(prev) and (d - prev).days <= 5


def test_previous_session_across_the_default_calendar_edge():
    from nightdesk.marketdata.calendar import previous_session, sessions_between

    assert previous_session(dt.date(1990, 1, 2)) == dt.date(1989, 12, 29)
    assert previous_session(dt.date(2031, 1, 2)) == dt.date(2030, 12, 31)
    assert sessions_between(dt.date(1989, 12, 27), dt.date(1990, 1, 3)) == [
        dt.date(1989, 12, 27), dt.date(1989, 12, 28), dt.date(1989, 12, 29), dt.date(1990, 1, 2), dt.date(1990, 1, 3)]


@pytest.mark.parametrize("day,exc,match", [
    ("0001-01-01", CalendarError, "--date 0001-01-01 is outside the NYSE calendar"),
    ("9999-12-31", CalendarError, "--date 9999-12-31 is outside the NYSE calendar"),
    ("1989-12-29", DataError, "--date 1989-12-29 is before the provider's history, which starts 2015-01-02"),
    ("2030-01-02", DataNotYetAvailable, "--date 2030-01-02 is beyond the provider's data, which ends 2026-08-03"),
    ("2026-02-16", CalendarError, "not a NYSE session"),
])
def test_resolve_date_raises_typed_errors(sample_provider, day, exc, match):
    with pytest.raises(exc, match=match):
        resolve_date(sample_provider, dt.date.fromisoformat(day))


# --- 14: an unadjusted split in a volatile name ----------------------------------------------------

@pytest.mark.slow  # a few seconds: the full suite runs it
def test_unadjusted_split_in_a_volatile_name_is_flagged_and_changes_no_headline(tmp_path, sample_px):
    """AppLovin (APP, 5.7% daily sigma in 2026, too volatile for the quiet-neighbours rule) with a
    10-for-1 split left unadjusted on 2026-05-12: its 12-1 score would sink it into the short leg
    and move the 2026-07-15 L/S return (-2.31% -> -2.33%). Flagged, the note's figures are those
    of the clean data to the last digit."""
    from nightdesk import facts as facts_layer
    from nightdesk.settings import Settings

    bad = sample_px.astype("float64")
    bad.loc["2026-05-12":, "APP"] /= 10
    bad.to_parquet(tmp_path / "prices.parquet")
    settings = Settings(history_days=700, langs=["en"])
    day = dt.date(2026, 7, 15)
    out = {}
    for label, prov in (("clean", get_provider("sample")), ("split", DirectoryProvider(tmp_path, name="parquet"))):
        md = load_market_data(prov, day, history_days=700)
        out[label] = facts_layer.compute(md, settings).momentum, facts_layer.gate(md).window_flags
    flags = out["split"][1]
    row = flags[(flags["ticker"] == "APP") & (flags["date"] == pd.Timestamp("2026-05-12"))]
    assert list(row["check"]) == ["split_like_jump"] and "price ratio 1/10" in row["detail"].iloc[0]
    assert out["clean"][1][out["clean"][1]["ticker"] == "APP"].empty
    for key in ("ls_ret_pct", "long_ret_pct", "short_ret_pct", "ls_z"):
        assert getattr(out["split"][0], key) == getattr(out["clean"][0], key), key


@pytest.mark.parametrize("ticker,day,ratio", [
    ("SNDK", "2026-05-12", 10), ("SMCI", "2026-03-03", 10), ("APP", "2026-06-01", 0.1),  # 1-for-10 reverse split
    ("LITE", "2026-04-07", 4), ("COIN", "2026-02-10", 3),
])
def test_split_ratios_in_volatile_names_flagged(sample_prices, registry, ticker, day, ratio):
    from nightdesk.analytics.quality import quality_gate
    from nightdesk.marketdata.calendar import nyse

    px = sample_prices.loc["2025-06-01":].astype("float64")
    px.loc[day:, ticker] /= ratio
    reg = registry.set_index("ticker")
    rep = quality_gate(px, pd.DatetimeIndex(nyse().sessions_in_range(px.index[0], px.index[-1])),
                       leverage=reg["leverage"], proxy=reg["underlying_proxy"])
    f = rep.flags
    assert list(f[(f["ticker"] == ticker) & (f["date"] == pd.Timestamp(day))]["check"]) == ["split_like_jump"]
    assert np.isnan(rep.ret_1d.at[pd.Timestamp(day), ticker])


@pytest.mark.parametrize("ticker,day", [
    ("PCG", "2019-01-14"), ("PCG", "2019-01-24"), ("OXY", "2020-03-09"), ("APA", "2020-03-09"), ("GL", "2024-04-11"),
    ("EPAM", "2022-02-28"), ("FMC", "2025-10-30"), ("AAP", "2025-05-22"), ("CVNA", "2023-06-08"), ("APP", "2024-11-07"),
])
def test_real_crashes_and_jumps_are_kept(gate_report, ticker, day):
    """Real moves of 45-75% (a -52% bankruptcy day, a -53% oil crash shared by the sector...): kept."""
    f = gate_report.flags
    assert f[(f["ticker"] == ticker) & (f["date"] == pd.Timestamp(day))].empty
    assert abs(gate_report.ret_1d.at[pd.Timestamp(day), ticker]) > 0.45


def test_extra_columns_are_never_parsed(tmp_path):
    """Point 16: memory follows the three used columns, not the file's width (400 extra columns
    here: their float64 arrays alone would be 9.6 MB; the 6.5 GB peak of the issue scaled so)."""
    import tracemalloc

    days = pd.bdate_range("2025-11-03", periods=30)
    pad = ",1.25" * 400
    rows = "".join(f"{d.date()},T{t:03d},{20 + t % 7}.5{pad}\n" for d in days for t in range(100))
    (tmp_path / "prices.csv").write_text("date,ticker,close" + "".join(f",x{i}" for i in range(400)) + "\n" + rows)
    tracemalloc.start()
    try:
        wide = read_prices_file(tmp_path / "prices.csv")
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert wide.shape == (30, 100)
    assert peak_bytes < 3_000_000, f"peak {peak_bytes / 1e6:.1f} MB"


# --- typed errors: what a flow decides by type (issue #21 item 1) ------------------------------------

def test_error_types_decide_retry_wait_or_fail(tmp_path):
    """Transient provider I/O is an OSError (the fetch task's current policy retries it: the
    yfinance network errors were DataErrors, never retried); bad data, calendar and late data
    are DataErrors (never retried), late data and a short coverage carry their own types."""
    import errno

    from nightdesk.analytics.quality import DataQualityError, IncompleteDataError, require_coverage
    from nightdesk.flows.nightly import _retry_io
    from nightdesk.marketdata.base import ProviderIOError
    from nightdesk.marketdata.validate import _os_error

    class State:
        def __init__(self, exc):
            self.exc = exc

        def result(self):
            raise self.exc

    io = _os_error(tmp_path / "prices.parquet", OSError(errno.EIO, "Input/output error"))
    assert isinstance(io, ProviderIOError) and not isinstance(io, DataError) and _retry_io(None, None, State(io)) is True
    denied = _os_error(tmp_path / "prices.parquet", PermissionError(errno.EACCES, "Permission denied"))
    assert isinstance(denied, DataFileError) and "permission denied" in str(denied) and _retry_io(None, None, State(denied)) is False
    for exc in (CalendarError("x"), DataNotYetAvailable("x"), DataFileError("x")):
        assert isinstance(exc, DataError) and _retry_io(None, None, State(exc)) is False
    ret = pd.DataFrame({"A": [0.01, np.nan]}, index=pd.DatetimeIndex(["2026-02-03", "2026-02-04"]))
    with pytest.raises(IncompleteDataError) as short:
        require_coverage(ret, pd.Timestamp("2026-02-04"), ["A"])
    assert isinstance(short.value, DataQualityError)
