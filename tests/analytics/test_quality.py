"""The quality gate on the sample's known artefacts and on hand-made frames."""
import numpy as np
import pandas as pd

from nightdesk.analytics.quality import DataQualityError, drop_bad_rows, require_coverage
import pytest


def _flag(report, ticker, date):
    f = report.flags
    return f[(f["ticker"] == ticker) & (f["date"] == pd.Timestamp(date))]


def test_soxs_reverse_split_flagged(gate_report):
    row = _flag(gate_report, "SOXS", "2026-05-26")
    assert list(row["check"]) == ["split_like_jump"]
    assert np.isnan(gate_report.ret_1d.at[pd.Timestamp("2026-05-26"), "SOXS"])


def test_dhr_spinoff_artefact_flagged(gate_report):
    assert list(_flag(gate_report, "DHR", "2016-07-05")["check"]) == ["split_like_jump"]


def test_soxl_stale_close_flagged(gate_report):
    assert "stale_close" in set(_flag(gate_report, "SOXL", "2026-07-31")["check"])


def test_real_big_moves_kept(gate_report):
    # AMD +52% on 2016-04-22 and SOXL +55% on 2025-04-09 were real
    assert _flag(gate_report, "AMD", "2016-04-22").empty
    assert _flag(gate_report, "SOXL", "2025-04-09").empty
    assert gate_report.ret_1d.at[pd.Timestamp("2016-04-22"), "AMD"] == pytest.approx(0.5229, abs=1e-3)


def test_members_without_prices_are_left_out_not_filled(sample_provider):
    """UNH, ED and BK are index members in the 2025-04-01 snapshot with no prices in the sample:
    the gate leaves them out of the members (no filled returns), and says how many members it kept."""
    import datetime as dt

    from nightdesk.facts import gate
    from nightdesk.marketdata.registry import load_market_data

    md = load_market_data(sample_provider, dt.date(2026, 2, 4), history_days=700)
    snapshot = set(md.sectors.loc[md.sectors["snapshot"] == "2025-04-01", "ticker"])
    g = gate(md)
    for t in ["UNH", "ED", "BK"]:
        assert t in snapshot and t not in g.members and t not in g.ret_1d.columns
    assert len(g.members) == 514 and g.n_usable == 512  # hand-checked: 514 members with prices, 512 with a close that day


def test_duplicates_and_non_sessions():
    idx = pd.DatetimeIndex(["2026-02-13", "2026-02-13", "2026-02-16", "2026-02-17"])
    px = pd.DataFrame({"A": [10.0, 10.0, 11.0, 12.0], "B": [5.0, 6.0, 5.5, -1.0]}, index=idx)
    sessions = pd.DatetimeIndex(["2026-02-13", "2026-02-17"])
    clean, flags = drop_bad_rows(px, sessions)
    assert list(clean.index) == [pd.Timestamp("2026-02-17")]  # conflicting duplicate dropped, holiday dropped
    assert set(flags["check"]) == {"duplicate_date", "non_session", "bad_value"}
    assert np.isnan(clean.at[pd.Timestamp("2026-02-17"), "B"])


def test_coverage_error_names_date():
    ret = pd.DataFrame({"A": [0.01, np.nan], "B": [0.02, np.nan]}, index=pd.DatetimeIndex(["2026-02-03", "2026-02-04"]))
    with pytest.raises(DataQualityError, match="data for 2026-02-04 not complete: only 0 of 2"):
        require_coverage(ret, pd.Timestamp("2026-02-04"), ["A", "B"])


def test_run_length_counts_whole_runs_per_column():
    from nightdesk.analytics.quality import _run_length

    flag = np.array([[1, 0], [1, 1], [0, 1], [1, 1], [1, 0], [1, 1]], dtype=bool)
    # column 0: a run of 2 at the start and a run of 3 at the end; column 1: runs of 3 and 1
    assert _run_length(flag).tolist() == [[2, 0], [2, 3], [0, 3], [3, 3], [3, 0], [3, 1]]
