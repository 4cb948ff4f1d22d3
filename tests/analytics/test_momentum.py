"""Momentum baskets: hand-checked frames, no look-ahead, real dates, UMD validation."""
import numpy as np
import pandas as pd
import pytest

from nightdesk.analytics import momentum as mo
from nightdesk.facts.story import intensity


def test_basket_returns_hand_checked():
    idx = pd.date_range("2024-01-01", periods=2, freq="D")
    ret = pd.DataFrame({"A": [0.10, 0.02], "B": [0.20, np.nan], "C": [-0.05, -0.04]}, index=idx)
    wl = pd.DataFrame({"A": [0.5, 0.5], "B": [0.5, 0.5], "C": [0.0, 0.0]}, index=idx)
    ws = pd.DataFrame({"A": [0.0, 0.0], "B": [0.0, 0.0], "C": [1.0, 1.0]}, index=idx)
    out = mo.basket_returns(ret, wl, ws)
    assert out["long_ret"].tolist() == pytest.approx([0.15, 0.02])  # B missing on day 2: renormalised
    assert out["ls_ret"].tolist() == pytest.approx([0.20, 0.06])
    assert out["n_long"].tolist() == [2, 1]


def test_no_look_ahead():
    rng = np.random.default_rng(0)
    idx = pd.bdate_range("2020-01-01", periods=400)
    ret = pd.DataFrame(rng.normal(0, 0.02, (400, 40)), index=idx, columns=[f"T{i}" for i in range(40)])
    px = (1 + ret).cumprod() * 50
    wl, ws = mo.basket_weights(ret, px, quantile=0.2)
    shocked = ret.copy()
    shocked.iloc[350:] = rng.normal(0, 0.2, (50, 40))  # rewrite the future
    wl2, ws2 = mo.basket_weights(shocked, (1 + shocked).cumprod() * 50, quantile=0.2)
    cut = idx[350]
    pd.testing.assert_frame_equal(wl.loc[:cut], wl2.loc[:cut])
    pd.testing.assert_frame_equal(ws.loc[:cut], ws2.loc[:cut])


@pytest.fixture(scope="module")
def baskets(gate_report, sample_provider, sample_prices):
    sectors = sample_provider.reference_data()["sectors"]
    members = sorted(set(sectors.loc[sectors["snapshot"] == "2026-08-08", "ticker"]) & set(gate_report.ret_1d.columns))
    r = gate_report.ret_1d[members]
    wl, ws = mo.basket_weights(r, sample_prices[members])
    return mo.basket_returns(r, wl, ws)


def test_vaccine_day_is_extreme(baskets):
    s = mo.day_stats(baskets, pd.Timestamp("2020-11-09"))
    assert intensity(s.ls_z) == "extreme" and s.ls_z < -4
    assert s.ls_ret_pct == pytest.approx(-21.5, abs=0.5)
    assert s.short_ret_pct > 15  # losers ripped


def test_2026_02_04_crash(baskets):
    s = mo.day_stats(baskets, pd.Timestamp("2026-02-04"))
    assert intensity(s.ls_z) == "extreme" and s.ls_z < -3
    assert -7.0 < s.ls_ret_pct < -5.5 and s.long_ret_pct < -3 and s.short_ret_pct > 2


def test_2025_04_09_tariff_pause_not_a_momentum_event(baskets):
    # both legs rose ~11%: a huge market day, a normal L/S day
    s = mo.day_stats(baskets, pd.Timestamp("2025-04-09"))
    assert s.long_ret_pct > 9 and s.short_ret_pct > 9 and intensity(s.ls_z) == "small"


def test_correlation_with_french_umd(baskets, sample_provider):
    umd = sample_provider.reference_data()["factors"]["mom"] / 100
    j = baskets[["ls_ret"]].join(umd, how="inner").dropna().loc["2016":"2026-04"]
    # a 10% decile spread of S&P 500 survivors vs UMD's NYSE-breakpoint 30/70 sorts: 0.8 is a
    # conservative floor (measured 0.90 on 2,577 days)
    assert len(j) > 2500
    assert j["ls_ret"].corr(j["mom"]) > 0.8
    top = j["mom"].abs().nlargest(20).index
    assert (np.sign(j.loc[top, "ls_ret"]) == np.sign(j.loc[top, "mom"])).mean() >= 0.9


def test_event_study_forward_window_inside_history():
    idx = pd.bdate_range("2020-01-01", periods=200)
    ls = pd.Series(0.001, index=idx)
    ls.iloc[[20, 25, 100]] = -0.10
    events, kind = mo.find_events(ls, None, side="down", trigger_ls_pct=-7, trigger_long_pct=None, z_fallback=-4, min_events=1)
    assert kind == "pct" and list(events) == [idx[20], idx[100]]  # 25 de-clustered
    _, kind = mo.find_events(ls, None, side="down", trigger_ls_pct=-7, trigger_long_pct=None, z_fallback=-4, min_events=3)
    assert kind == "z"  # two events are fewer than three: the z rule
    up, kind = mo.find_events(-ls, None, side="up", trigger_ls_pct=-7, trigger_long_pct=None, z_fallback=-4, min_events=1)
    assert kind == "pct" and list(up) == [idx[20], idx[100]]  # the mirror image: the same days as rallies
    summary, table = mo.event_study(ls, events)
    assert summary.loc[21, "n"] == 2
    fwd_a = 0.9 * 1.001**20 - 1  # event 20: the -10% of session 25 falls inside its 21 sessions
    fwd_b = 1.001**21 - 1  # event 100: a clean drift
    assert summary.loc[21, "median_pct"] == pytest.approx(100 * (fwd_a + fwd_b) / 2)
    assert summary.loc[21, "hit_rate_pct"] == 50.0
    assert table.loc[0, "ptt_pct"] == pytest.approx(-10.0)  # peak at session 24, trough at 25
