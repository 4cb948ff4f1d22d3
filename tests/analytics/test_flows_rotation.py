"""Flow analytics on hand-made frames, adapters on real public rows, rotation checked by hand."""
from pathlib import Path

import datetime as dt
import numpy as np
import pandas as pd
import pytest

from nightdesk.analytics import flows as fl
from nightdesk.analytics import rotation as ro
from nightdesk.tables import load_gics, load_themes
from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.flows_io import read_finra_short_volume, read_rtat, read_vendor_flows

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def _flows(days, retail_net, inst_net):
    rows = []
    for d, rn, inn in zip(days, retail_net, inst_net):
        rows.append({"date": d, "ticker": "A", "bucket": "open", "retail_buy_usd": 50 + rn / 2, "retail_sell_usd": 50 - rn / 2,
                     "inst_buy_usd": 100 + inn / 2, "inst_sell_usd": 100 - inn / 2})
    return pd.DataFrame(rows)


def test_intensity_and_percentile_by_hand():
    days = pd.bdate_range("2024-01-01", periods=5)
    f = _flows(days, [10, -20, 30, 0, 40], [0, 0, 0, 0, -100])
    daily = fl.daily_intensity(f)
    assert daily["retail"].tolist() == pytest.approx([0.1, -0.2, 0.3, 0.0, 0.4])  # net / gross, gross = 100
    assert daily.at[days[-1], "inst"] == pytest.approx(-0.5)
    # day 5's retail 0.4 is above all 4 past days -> 100; inst -0.5 below all -> 0
    assert fl.pctile_vs_past(daily["retail"], days[-1]) == 100.0
    assert fl.pctile_vs_past(daily["inst"], days[-1]) == 0.0
    assert fl.pctile_vs_past(daily["retail"], days[2], window_days=2) == 100.0


def test_timing_and_overlap():
    d = pd.Timestamp("2024-01-02")
    f = pd.DataFrame({"date": d, "ticker": "A", "bucket": ["open", "afternoon", "close"], "retail_buy_usd": [10.0, 30.0, 30.0],
                      "retail_sell_usd": [0.0, 0.0, 0.0], "inst_buy_usd": 1.0, "inst_sell_usd": 1.0})
    t = fl.timing_split(f, d, "retail")
    assert t["open"] == pytest.approx(100 / 7) and t["close"] == pytest.approx(300 / 7) and fl.am_pm_share(t) == "pm"
    o = fl.overlap(pd.Index(["A", "B", "C", "D"]), pd.Series({"A": 0.5, "B": 0.25, "X": 0.25}))
    assert o == {"count": 2, "of": 4, "share_pct": 50.0, "leg_weight_pct": 75.0}


def test_january_effect_correlation_by_hand():
    idx = pd.bdate_range("2020-01-01", "2023-03-31")
    ret = pd.DataFrame(0.0, index=idx, columns=list("ABCDE"))
    jan = {2020: 0.001, 2021: 0.002, 2022: 0.003}
    for y, r in jan.items():
        ret.loc[(idx.year == y) & (idx.month == 1)] = r
        ret.loc[(idx.year == y) & idx.month.isin([2, 3])] = -r  # perfectly negative relation
    out = fl.january_effect(ret, {y: list("ABCDE") for y in jan}, pd.Timestamp("2023-06-01"))
    assert out["n_years"] == 3 and out["corr"] == pytest.approx(-1.0, abs=0.02)


def test_rtat_real_rows():
    r = read_rtat(FIX / "rtat10_2024-06-24_26.csv")
    assert len(r) == 30 and r["date"].max() == pd.Timestamp("2024-06-26")
    assert r.set_index(["date", "ticker"]).loc[(pd.Timestamp("2024-06-26"), "TSLA"), "activity"] == 0.085


def test_finra_real_rows():
    f = read_finra_short_volume(FIX / "finra_shortvol_sample.txt")
    row = f[(f["ticker"] == "FEX") & (f["date"] == pd.Timestamp("2014-05-09"))].iloc[0]
    assert row["short_volume"] == 723 and row["total_volume"] == 1874
    assert row["short_share"] == pytest.approx(723 / 1874)


@pytest.mark.parametrize(
    "body,match",
    [
        ("date,ticker,bucket,retail_buy_usd\n", "missing column"),
        ("date,ticker,bucket,retail_buy_usd,retail_sell_usd,inst_buy_usd,inst_sell_usd\n2024-01-02,AAPL,open,-5,1,1,1\n", "row 2: retail_buy_usd"),
        ("date,ticker,bucket,retail_buy_usd,retail_sell_usd,inst_buy_usd,inst_sell_usd\n2024-01-02,ZZZZ,open,5,1,1,1\n", "unknown ticker 'ZZZZ'"),
        ("date,ticker,bucket,retail_buy_usd,retail_sell_usd,inst_buy_usd,inst_sell_usd\n2024-01-02,AAPL,open,5,1,1,1\n2024-01-02,AAPL,open,5,1,1,1\n", "duplicate"),
    ],
)
def test_vendor_flows_errors_name_file_and_row(tmp_path, body, match):
    p = tmp_path / "flows.csv"
    p.write_text(body)
    with pytest.raises(DataError, match=match) as exc:
        read_vendor_flows(p, known_tickers={"AAPL"})
    assert str(p) in str(exc.value)


def test_sector_and_breadth_by_hand(sample_prices, sample_provider):
    """2026-02-04, Energy sector and breadth recomputed from raw closes."""
    day = pd.Timestamp("2026-02-04")
    ref = sample_provider.reference_data()
    members = sorted(set(ref["sectors"].loc[ref["sectors"]["snapshot"] == "2025-04-01", "ticker"]) & set(sample_prices.columns))
    px = sample_prices.loc[:day]
    ret = px.pct_change(fill_method=None)
    smap = ro.sector_map(ref["sectors"], day, members)
    energy = list(smap.index[smap["sector"] == "Energy"])
    table = ro.group_table(ret[members], {"Energy": energy}, day)
    by_hand = np.mean([px[t].iloc[-1] / px[t].iloc[-2] - 1 for t in energy if pd.notna(px[t].iloc[-1]) and pd.notna(px[t].iloc[-2])])
    assert table.loc["Energy", "ret_1d_pct"] == pytest.approx(100 * by_hand)
    assert table.loc["Energy", "n"] == 21  # 2025-04-01 snapshot members with a close on the day
    spy = px["SPY"].iloc[-1] / px["SPY"].iloc[-2] - 1
    r = ret[members].iloc[-1].dropna()
    scale = ro.shares_proxy(ref["reference"], px[members])
    b = ro.breadth_panel(ret[members], ret["SPY"], (px[scale.index].ffill() * scale).shift(1)).loc[day]
    assert b["breadth_pct_beating_index"] == pytest.approx(100 * (r > spy).mean())
    assert b["advancers"] == int((r > 0).sum()) and b["n_members"] == len(r)
    # cap-weighted member return by hand: weights are caps at the previous close
    caps = (scale * px[scale.index].iloc[-2]).reindex(r.index).dropna()
    assert b["cw_ret_pct"] == pytest.approx(100 * (r[caps.index] * caps).sum() / caps.sum())
    # Banks industry group (Diversified + Regional Banks) from raw closes
    banks = [t for t in members if smap.at[t, "sub_industry"] in ("Diversified Banks", "Regional Banks")]
    groups = ro.industry_groups(smap["sub_industry"].dropna(), load_gics())
    assert sorted(groups["Banks"]) == sorted(banks)
    ig = ro.group_table(ret[members], groups, day)
    assert ig.loc["Banks", "ret_1d_pct"] == pytest.approx(100 * np.mean([px[t].iloc[-1] / px[t].iloc[-2] - 1 for t in banks]))
    assert "Unclassified" not in groups  # every sub-industry in the sample maps to an industry group


def test_sector_map_point_in_time(sample_provider):
    sectors = sample_provider.reference_data()["sectors"]
    # in 2016 the 2012 snapshot rules: Telecom Services still exists; in 2026 it is gone
    m16 = ro.sector_map(sectors, pd.Timestamp("2016-06-01"), ["T", "VZ", "NVDA"])
    m26 = ro.sector_map(sectors, pd.Timestamp("2026-06-01"), ["T", "VZ", "NVDA"])
    assert m16.loc["T", "sector"] == "Telecommunications Services" and m26.loc["T", "sector"] == "Communication Services"
    assert m16.loc["T", "snapshot"] == "2012-12-27"


def test_old_snapshots_get_sub_industries_of_the_same_sector(sample_provider):
    """The 2012 and 2020 constituent files list sectors only: a 2022 date takes each member's
    sub-industry from a later file when the sector agrees (NVDA: Semiconductors), and none when
    it changed (Visa: Information Technology in 2020, Financials from 2023)."""
    sectors = sample_provider.reference_data()["sectors"]
    m = ro.sector_map(sectors, pd.Timestamp("2022-03-07"), ["NVDA", "AMAT", "JPM", "V"])
    assert m.loc["NVDA", "snapshot"] == "2020-08-22" and m.loc["NVDA", "sub_industry"] == "Semiconductors"
    assert m.loc["AMAT", "sub_industry"] == "Semiconductor Materials & Equipment"
    assert m.loc["JPM", "sub_industry"] == "Diversified Banks"
    assert m.loc["V", "sector"] == "Information Technology" and pd.isna(m.loc["V", "sub_industry"])


def test_caps_roll_back_before_the_reference_date(sample_provider):
    """Caps for a date whose history ends before the reference date (2024-12-31) are rolled by
    the reference date's close: NVDA on 2022-03-07 weighs about $563bn (2.449bn pre-2024-split
    shares x $229.86 on 4 March 2022), not its $3.3tn reference cap."""
    from nightdesk.marketdata.registry import load_market_data

    md = load_market_data(sample_provider, dt.date(2022, 3, 7), history_days=300)
    assert md.px_close.index[-1] < pd.Timestamp("2024-12-31")
    caps = ro.cap_prev_usd(md.reference, md.px_close)
    assert caps.loc["2022-03-07", "NVDA"] / 1e9 == pytest.approx(563, rel=0.02)
    assert caps.loc["2022-03-07", "INTC"] / 1e9 == pytest.approx(189, rel=0.02)
