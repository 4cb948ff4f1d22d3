"""Hostile input, faults and secrets: each fails loudly, specifically and harmlessly."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nightdesk.analytics import momentum as mo
from nightdesk.analytics.letf import fund_flows, rolled_aum_usd
from nightdesk.analytics.quality import quality_gate
from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.directory import read_prices_file
from nightdesk.cli import app

runner = CliRunner()


def test_settings_unknown_key_named(tmp_path, monkeypatch):
    cfg = tmp_path / "nightdesk.toml"
    cfg.write_text('provider = "sample"\nmomentum_quantile = 0.2\n')
    monkeypatch.setenv("NIGHTDESK_CONFIG", str(cfg))
    res = runner.invoke(app, ["run", "--date", "2026-02-04"])
    assert res.exit_code == 2 and "momentum_quantile" in res.output and "Extra inputs are not permitted" in res.output


def test_settings_wrong_type_named(monkeypatch):
    monkeypatch.setenv("NIGHTDESK_MOMENTUM__QUANTILE", "lots")
    res = runner.invoke(app, ["run", "--date", "2026-02-04"])
    assert res.exit_code == 2 and "momentum.quantile" in res.output


def test_cache_dir_from_toml_expands_home(tmp_path, monkeypatch):
    from nightdesk.settings import Settings

    cfg = tmp_path / "nightdesk.toml"
    cfg.write_text('cache_dir = "~/nd-cache"\n')
    monkeypatch.setenv("NIGHTDESK_CONFIG", str(cfg))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NIGHTDESK_CACHE_DIR", raising=False)  # the environment outranks the file
    assert Settings().cache_dir == tmp_path / "nd-cache"


def test_secrets_masked():
    from nightdesk.delivery.transport import SmtpTransport
    from nightdesk.settings import Settings

    s = Settings(delivery={"smtp": {"password": "hunter2", "username": "desk"}})
    assert "hunter2" not in repr(s) and "hunter2" not in s.model_dump_json()
    assert "hunter2" not in repr(SmtpTransport("127.0.0.1", 25, username="desk", password="hunter2"))


@pytest.mark.parametrize(
    "body,match",
    [
        ("", "file is empty"),
        ("day,ticker,close\n2026-02-04,AAPL,1\n", "missing column"),
        ("date,ticker,close\n2026-02-04,AAPL,abc\n", "row 2: close 'abc' is not a number"),
        ("date,ticker,close\n2026-02-04,AAPL,1\n2026-02-04,AAPL,2\n", "duplicate \\(date, ticker\\)"),
        ("date,ticker,close\n2026-02-04,AAPL,-1\n", "negative close for AAPL"),
        ("date,ticker,close\n2026-02-04T16:00:00+00:00,AAPL,1\n", "timezone"),
        ("date,ticker,close\nnot-a-date,AAPL,1\n", "unparseable date"),
    ],
)
def test_vendor_prices_rejected_with_reason(tmp_path, body, match):
    p = tmp_path / "prices.csv"
    p.write_text(body)
    with pytest.raises(DataError, match=match) as exc:
        read_prices_file(p)
    assert str(p) in str(exc.value)


def test_two_gigabyte_file_refused_unread(tmp_path):
    p = tmp_path / "prices.csv"
    with open(p, "wb") as fh:
        fh.truncate(2_100_000_000)  # sparse: no disk used, never read
    with pytest.raises(DataError, match="2.1 GB is over the 1 GB limit"):
        read_prices_file(p)


def test_vendor_directory_via_cli(tmp_path):
    (tmp_path / "prices.csv").write_text("date,ticker,close\n2026-02-04,AAPL,abc\n")
    res = runner.invoke(app, ["data", "check", "--provider", "csv", "--data-dir", str(tmp_path), "--date", "2026-02-04"])
    assert res.exit_code == 2 and "prices.csv: row 2" in res.output


def test_registry_rows_with_zero_leverage_or_no_aum_are_excluded():
    idx = pd.bdate_range("2026-01-02", periods=3)
    px = pd.DataFrame({"AAA": [10.0, 10.0, 9.0], "BBB": [20.0, 20.0, 18.0], "CCC": [5.0, 5.0, 4.5], "SPY": [100.0, 100.0, 95.0]}, index=idx)
    reg = pd.DataFrame({"ticker": ["AAA", "BBB", "CCC"], "leverage": [0, 3, 2], "underlying": "S&P 500", "underlying_kind": "index",
                        "underlying_proxy": "SPY", "aum_usd": [1e9, np.nan, 1e9], "aum_as_of": "2026-01"})
    aum = rolled_aum_usd(reg, px, idx[-1])
    flows = fund_flows(reg, px.pct_change(), aum, idx[-1])
    assert flows.loc["AAA", "status"] == "no_leverage" and flows.loc["BBB", "status"] == "no_aum"
    # CCC: anchor at Jan month-end after the data -> latest close stands in; own return -10% / 2 = -5% underlying
    assert flows.loc["CCC", "flow_usd"] == pytest.approx(1e9 * (5.0 / 4.5) * 2 * 1 * -0.05)


@pytest.mark.slow  # runs the flow (a Prefect server)
def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    res = runner.invoke(app, ["run", "--date", "2026-02-04", "--output-dir", str(blocker / "out"), "--lang", "en"])
    assert res.exit_code == 2 and "cannot write to output folder" in res.output


panel = st.integers(min_value=0, max_value=2**31 - 1)


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=panel, nan_share=st.floats(0.0, 0.06), n_names=st.integers(10, 40))  # a score needs 90% of its window
def test_momentum_pipeline_on_random_panels(seed, nan_share, n_names):
    rng = np.random.default_rng(seed)
    n_days = 700  # 273 sessions to form the first baskets, then over a year of L/S for the z-score
    idx = pd.bdate_range("2020-01-01", periods=n_days)
    ret = pd.DataFrame(rng.normal(0, 0.03, (n_days, n_names)), index=idx, columns=[f"T{i}" for i in range(n_names)])
    ret = ret.mask(rng.random(ret.shape) < nan_share)
    ret.iloc[100:110, : n_names // 2] = np.nan  # a gap
    ret.iloc[-1] = rng.normal(0, 0.03, n_names)  # every name trades on the last day
    px = (1 + ret.fillna(0)).cumprod() * 20
    wl, ws = mo.basket_weights(ret, px, quantile=0.2)
    b = mo.basket_returns(ret, wl, ws)
    sums = wl.sum(axis=1)
    assert ((sums.round(9) == 1) | (sums == 0)).all()
    assert not np.isinf(b[["long_ret", "short_ret", "ls_ret"]].to_numpy()).any()
    assert b["ls_ret"].notna().sum() > 260  # the day's statistics below always run
    s = mo.day_stats(b, idx[-1])
    assert s.ls_ret_pct == pytest.approx(100 * (b["long_ret"].iloc[-1] - b["short_ret"].iloc[-1]))
    assert np.isfinite(s.ls_z) and np.isfinite(s.ls_pctile) and s.ls_drawdown_pct <= 0


@hsettings(max_examples=10, deadline=None)
@given(seed=panel)
def test_quality_gate_never_raises_on_random_prices(seed):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2024-01-01", periods=120)
    px = pd.DataFrame(np.exp(rng.normal(0, 0.3, (120, 6)).cumsum(axis=0)) * 10, index=idx, columns=list("ABCDEF"))
    px = px.mask(rng.random(px.shape) < 0.2)
    px.iloc[4:9, 0] = 12.34  # a stale run
    rep = quality_gate(px, idx, leverage=pd.Series(dtype=float), proxy=pd.Series(dtype=object))
    assert rep.ret_1d.shape == px.shape
    assert {"stale_close"} <= set(rep.flags["check"])
