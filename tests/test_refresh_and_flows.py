"""Reference-data refresh adapters and flow sources, on stored response bodies served from 127.0.0.1
(tests/fixtures/refresh, provenance in its README); the ``live`` tests call the real endpoints."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.directory import SAMPLE_DIR, DirectoryProvider
from nightdesk.marketdata.flows_io import VENDOR_COLUMNS
from nightdesk.marketdata.flows_source import FlowsConfig, load_flows
from nightdesk.marketdata.refresh import (REFRESHERS, Fetched, RefreshContext, apply_refresh, http_getter, merge_letf,
                                          parse_yahoo_info, refresh_table)
from nightdesk.marketdata.registry import get_provider, load_market_data
from nightdesk.marketdata.store import Store
from nightdesk.settings import Settings

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("seed") / "store"
    Store(root).seed(SAMPLE_DIR)
    return root


@pytest.fixture
def store_dir(seeded, tmp_path) -> Path:
    shutil.copytree(seeded, tmp_path / "store")
    return tmp_path / "store"


def settings_for(store_dir: Path, **refresh) -> Settings:
    base = Settings().refresh.model_dump()
    for what, override in refresh.items():
        base[what] = {**base[what], **override}
    return Settings(store={"dir": store_dir}, refresh=base)


# ----- flows: vendor file, FINRA, RTAT, none ----------------------------------------------------
def vendor_flows_csv(folder: Path, sessions: pd.DatetimeIndex) -> Path:
    """A small flows file in the vendor layout: five members, five intraday buckets, given sessions."""
    rows = []
    for i, day in enumerate(sessions):
        for j, t in enumerate(["AAPL", "MSFT", "NVDA", "TSLA", "AMD"]):
            for k, b in enumerate(["open", "morning", "midday", "afternoon", "close"]):
                base = 1e6 * (1 + j) * (1 + 0.1 * k)
                tilt = ((i * 7 + j * 3 + k) % 11 - 5) / 20
                rows.append([day.date().isoformat(), t, b, base * (1 + tilt), base * (1 - tilt), 4 * base * (1 - tilt / 2), 4 * base * (1 + tilt / 2)])
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=VENDOR_COLUMNS).to_csv(folder / "flows.csv", index=False)
    return folder / "flows.csv"


def test_a_vendor_flows_file_makes_the_flows_real(sample_provider, tmp_path):
    from nightdesk import facts

    day = dt.date(2026, 2, 4)
    sessions = sample_provider.prices(dt.date(2025, 12, 1), day).index
    vendor_flows_csv(tmp_path / "flows", sessions)
    prov = get_provider("sample", flows=FlowsConfig(source="vendor", dir=tmp_path / "flows", vendor_name="Acme Flow Analytics"))
    md = load_market_data(prov, day, history_days=Settings().history_days)
    assert md.flows_simulated is False and set(md.flows["ticker"]) == {"AAPL", "MSFT", "NVDA", "TSLA", "AMD"}
    assert md.sources["flows"] == "Acme Flow Analytics: retail and institutional buy/sell notional by ticker and time of day"
    assert md.as_of["flows"] == day
    record = json.loads(facts.to_json(facts.compute(md, Settings())))
    fl = record["flows"]
    assert fl["available"] is True and fl["simulated"] is False and record["meta"]["simulated"] == []
    assert record["meta"]["sources"]["flows"].startswith("Acme Flow Analytics")
    # the day's retail intensity is the file's own: net over gross of the five names
    today = md.flows[md.flows["date"] == pd.Timestamp(day)]
    expect = (today["retail_buy_usd"].sum() - today["retail_sell_usd"].sum()) / (today["retail_buy_usd"].sum() + today["retail_sell_usd"].sum())
    assert fl["retail_intensity"] == pytest.approx(expect, abs=1e-6)  # the facts keep 6 decimals


def test_a_vendor_drop_with_flows_names_them_not_simulated(tmp_path, sample_provider):
    """The bug: a parquet drop with flows.csv served real flows but the data appendix still said 'simulated'
    (and named the drop's folder). Fails on the previous DirectoryProvider.sources."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "prices.parquet").symlink_to(SAMPLE_DIR / "prices.parquet")
    vendor_flows_csv(drop, sample_provider.prices(dt.date(2026, 1, 20), dt.date(2026, 2, 4)).index)
    prov = DirectoryProvider(drop, name="parquet")
    flows, simulated = prov.flows(dt.date(2026, 1, 20), dt.date(2026, 2, 4), prov.prices(dt.date(2025, 6, 1), dt.date(2026, 2, 4)).pct_change())
    assert simulated is False and len(flows) == 12 * 25
    src = prov.sources()
    assert not src["flows"].startswith("simulated") and "vendor" in src["flows"]
    assert str(tmp_path) not in json.dumps(src)  # no paths reach the readers


def test_simulated_and_no_flows_are_labelled(sample_provider):
    md = load_market_data(sample_provider, dt.date(2026, 2, 4), history_days=700, flows_window_days=3)
    assert md.flows_simulated is True and md.sources["flows"].startswith("simulated")
    prov = get_provider("sample", flows=FlowsConfig(source="none"))
    md = load_market_data(prov, dt.date(2026, 2, 4), history_days=700, flows_window_days=3)
    assert md.flows is None and md.flows_simulated is False and md.sources["flows"] == "no flow data" and "flows" not in md.as_of


def test_finra_files_become_retail_proxy_flows(sample_provider, tmp_path, fixture_server):
    """Short volume x close is the retail-buy proxy; missing days are fetched once from FINRA's file server."""
    cfg = FlowsConfig(source="finra", dir=tmp_path, fetch_missing=True, finra_url=f"{fixture_server}/finra")
    day = dt.date(2024, 6, 26)
    px = sample_provider.prices(dt.date(2024, 6, 1), day)
    res = load_flows(cfg, dt.date(2024, 6, 24), day, px.pct_change(), px_close=lambda: px)
    fetched = sorted(p.name for p in (tmp_path / "finra").iterdir())
    assert fetched == ["CNMSshvol20240624.txt", "CNMSshvol20240625.txt", "CNMSshvol20240626.txt"]  # 06-03..06-21: 404, skipped
    assert res.simulated is False and res.source.startswith("FINRA daily short-sale volume")
    f = res.frame
    assert set(f["ticker"]) == {"AAPL", "MSFT", "NVDA", "TSLA"}  # ZZZZ has no close: dropped
    row = f[(f["ticker"] == "AAPL") & (f["date"] == pd.Timestamp("2024-06-24"))].iloc[0]
    close = px.at[pd.Timestamp("2024-06-24"), "AAPL"]
    assert row["retail_buy_usd"] == pytest.approx(9120334 * close) and row["retail_sell_usd"] == pytest.approx((18540210 - 9120334) * close)
    assert (f["inst_buy_usd"] == 0).all() and (f["bucket"] == "day").all()


def test_rtat_fetched_with_the_api_key_and_converted(sample_provider, tmp_path, fixture_server):
    day = dt.date(2024, 6, 26)
    px = sample_provider.prices(dt.date(2024, 6, 1), day)
    no_key = FlowsConfig(source="rtat", dir=tmp_path, fetch_missing=True, rtat_url=f"{fixture_server}/rtat/RTAT10.json")
    with pytest.raises(DataError, match="no RTAT files and no API key"):
        load_flows(no_key, dt.date(2024, 6, 24), day, px.pct_change(), px_close=lambda: px)
    cfg = FlowsConfig(**{**no_key.__dict__, "rtat_api_key": "k", "retail_notional_usd": 1e9})
    res = load_flows(cfg, dt.date(2024, 6, 24), day, px.pct_change(), px_close=lambda: px)
    assert list((tmp_path / "rtat").glob("*.csv")) and res.simulated is False and res.source.startswith("Nasdaq Retail Trading Activity")
    tsla = res.frame[(res.frame["ticker"] == "TSLA") & (res.frame["date"] == pd.Timestamp(day))].iloc[0]
    assert tsla["retail_buy_usd"] + tsla["retail_sell_usd"] == pytest.approx(0.085 * 1e9)  # activity 0.085, sentiment 2
    assert tsla["retail_buy_usd"] - tsla["retail_sell_usd"] == pytest.approx(0.085 * 1e9 * 0.2)


def test_rtat_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("NASDAQ_DATA_LINK_API_KEY", "from-env")
    assert Settings().flows.rtat_api_key.get_secret_value() == "from-env"
    monkeypatch.setenv("NIGHTDESK_FLOWS__RTAT_API_KEY", "ours")
    assert Settings().flows.rtat_api_key.get_secret_value() == "ours"
    assert "ours" not in Settings().model_dump_json()


# ----- reference refresh ------------------------------------------------------------------------
def test_membership_refresh_adds_a_snapshot(store_dir, fixture_server):
    s = settings_for(store_dir, membership={"url": f"{fixture_server}/datasets/constituents.csv"})
    with pytest.raises(DataError, match="18 rows"):  # a truncated table must not replace membership
        refresh_table("membership", s, today=dt.date(2026, 8, 10))
    res = refresh_table("membership", s, today=dt.date(2026, 8, 10), min_members=10)
    assert res.as_of == dt.date(2026, 8, 10) and "datasets/s-and-p-500-companies" in res.source
    prov = get_provider("store", store_dir=store_dir)
    sectors = prov.reference_data()["sectors"]
    snap = sectors[sectors["snapshot"] == "2026-08-10"]
    assert len(snap) == 18 and "BRK-B" in set(snap["ticker"]) and len(sectors[sectors["snapshot"] == "2026-08-08"]) == 503
    assert prov.manifest()["tables"]["sectors"]["as_of"] == "2026-08-10"
    assert "removed" in res.details and "AAPL" not in res.details["removed"]


def test_caps_refresh_from_sec_shares(store_dir, fixture_server):
    s = settings_for(store_dir, caps={"url": f"{fixture_server}/sec"})
    with pytest.raises(DataError, match="refusing a partial cap table"):
        refresh_table("caps", s, today=dt.date(2026, 8, 10))
    res = refresh_table("caps", s, today=dt.date(2026, 8, 10), min_cap_coverage=0.0)
    ref = get_provider("store", store_dir=store_dir).reference_data()["reference"].set_index("ticker")
    close = get_provider("sample").prices(dt.date(2026, 8, 3), dt.date(2026, 8, 3))
    assert res.as_of == dt.date(2026, 8, 3) and (ref["as_of"] == "2026-08-03").all()
    assert ref.at["AAPL", "market_cap_usd"] == pytest.approx(14840390000 * close.at[pd.Timestamp("2026-08-03"), "AAPL"], rel=1e-6)
    # two share classes of one company split its shares; Q1 fills companies missing from Q2
    assert ref.at["GOOGL", "market_cap_usd"] / close.iloc[0]["GOOGL"] == pytest.approx(12110000000 / 2)
    assert "AES" in ref.index and ref.at["MSFT", "exchange"] == "NMS" and ref.at["MMM", "exchange"] == "NYQ"
    assert ref["index_weight"].sum() == pytest.approx(1.0)


def test_letf_aum_refresh_updates_adds_and_closes(store_dir):
    infos = json.loads((FIX / "refresh/yahoo/info.json").read_text())
    fetched = parse_yahoo_info(infos, today=dt.date(2026, 8, 10))
    store = Store(store_dir)
    res = apply_refresh(store, "letf_aum", Fetched(fetched, "fund total assets from Yahoo Finance (via yfinance), 2026-08-10", dt.date(2026, 8, 10)))
    reg = store.read_table("letf_registry").set_index("ticker")
    assert reg.at["TQQQ", "aum_usd"] == 27914473472 and reg.at["TQQQ", "aum_as_of"] == "2026-08-10"
    assert "FNGU" not in reg.index and res.details["closed"] == ["FNGU"] and res.details["no_aum"] == ["SQQQ"]
    # a vendor file adds a new fund when it describes it, and lists one it cannot place
    new = pd.DataFrame({"ticker": ["NEWX", "ODDX"], "aum_usd": [5e8, 1e8], "aum_as_of": ["2026-08-12"] * 2, "status": ["open"] * 2,
                        "leverage": [2.0, None], "underlying": ["NVDA", None], "underlying_kind": ["single_stock", None],
                        "underlying_proxy": ["NVDA", None], "name": ["New 2X NVDA", "Odd fund"]})
    merged, details = merge_letf(store.read_table("letf_registry"), new, source="fund AUM: vendor file")
    assert details["added"] == ["NEWX"] and details["needs_description"] == ["ODDX"]
    assert merged.set_index("ticker").at["NEWX", "leverage"] == 2.0


def test_letf_aum_from_a_vendor_file(store_dir, tmp_path):
    f = tmp_path / "aum.csv"
    f.write_text("ticker,aum_usd,aum_as_of\nTQQQ,2.5e10,2026-08-11\nSOXL,1.1e10,2026-08-11\n")
    res = refresh_table("letf_aum", settings_for(store_dir), file=f)
    assert res.source == "fund AUM: vendor file" and res.details["updated"] == 2
    md = load_market_data(get_provider("store", store_dir=store_dir), dt.date(2026, 8, 3), history_days=700, flows_window_days=1)
    assert md.sources["letf_registry"] == "fund AUM: vendor file" and md.as_of["letf_aum"] == dt.date(2019, 12, 31)  # others still old


def test_factors_refresh_from_the_french_library(store_dir, fixture_server):
    res = refresh_table("factors", settings_for(store_dir, factors={"url": f"{fixture_server}/french"}))
    assert res.as_of == dt.date(2026, 4, 30) and res.source.endswith("202604 CRSP vintage")
    got = Store(store_dir).read_table("factors")
    sample = pd.read_parquet(SAMPLE_DIR / "ff_factors_daily.parquet")
    assert len(got) == 6 and list(got.columns) == ["mkt_rf", "smb", "hml", "rf", "mom"]
    pd.testing.assert_frame_equal(got, sample.loc[got.index], check_freq=False)  # same numbers as the bundled vintage


def test_refresh_errors_name_the_input(store_dir, tmp_path):
    s = settings_for(store_dir)
    with pytest.raises(DataError, match="unknown reference input"):
        refresh_table("prices", s)
    with pytest.raises(DataError, match="no such file"):
        refresh_table("factors", s, file=tmp_path / "nope.csv")
    with pytest.raises(DataError, match="no store here yet"):
        refresh_table("factors", settings_for(tmp_path / "empty"))
    assert set(REFRESHERS) == {"membership", "caps", "letf_aum", "factors"} and all("file" in a for a in REFRESHERS.values())


# ----- the real endpoints (pytest --live) -------------------------------------------------------
LIVE = {
    "membership": lambda ctx: REFRESHERS["membership"]["datasets-github"]().fetch(ctx),
    "factors": lambda ctx: REFRESHERS["factors"]["french"]().fetch(ctx),
    "caps": lambda ctx: REFRESHERS["caps"]["sec"]().fetch(ctx),
    "letf_aum": lambda ctx: REFRESHERS["letf_aum"]["yahoo"]().fetch(ctx),
}


@pytest.mark.live
@pytest.mark.parametrize("what", sorted(LIVE))
def test_live_endpoint_parses(what, seeded):
    if what == "letf_aum":
        pytest.importorskip("yfinance")
    s = Settings()
    ctx = RefreshContext(store=Store(seeded), get=http_getter(60, s.refresh.sec_user_agent))
    fetched = LIVE[what](ctx)
    assert len(fetched.frame) > 0 and fetched.as_of <= dt.date.today()


@pytest.mark.live
def test_live_finra_file(sample_provider, tmp_path):
    from nightdesk.marketdata.calendar import previous_session
    from nightdesk.marketdata.flows_source import fetch_finra_days

    day = previous_session(dt.date.today())
    got = fetch_finra_days(tmp_path, [day, previous_session(day)], base_url=FlowsConfig().finra_url)
    assert got


@pytest.mark.slow
def test_the_prefect_flows_refresh_and_update(store_dir, fixture_server, prefect_harness, tmp_path):
    """The scheduled flows are the same functions as tasks: a real Prefect run of each."""
    from nightdesk.flows.data import data_deployments, data_update, refresh_reference

    s = settings_for(store_dir, factors={"url": f"{fixture_server}/french"})
    out = refresh_reference("factors", s)
    assert out["as_of"] == "2026-04-30" and out["generation"] == 2
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "prices.parquet").symlink_to(SAMPLE_DIR / "prices.parquet")
    s = Settings(store={"dir": store_dir, "source": "parquet", "source_dir": drop})
    assert data_update(dt.date(2026, 8, 5), s) == {"appended": [], "refused": {}, "flags": 0, "unavailable": ["2026-08-04", "2026-08-05"],
                                                  "last": "2026-08-03"}
    deps = {d.name: d for d in data_deployments(Settings())}
    assert sorted(deps) == ["refresh-caps", "refresh-factors", "refresh-letf-aum", "refresh-membership"]
    assert deps["refresh-letf-aum"].parameters == {"what": "letf_aum"} and deps["refresh-letf-aum"].schedules[0].schedule.cron == "0 7 * * 1-5"


def test_settings_select_the_flows_and_the_cli_refreshes(store_dir, fixture_server, tmp_path, monkeypatch, sample_provider):
    from typer.testing import CliRunner

    from nightdesk.cli import app
    from nightdesk.marketdata.registry import provider_from_settings

    vendor_flows_csv(tmp_path / "flows", sample_provider.prices(dt.date(2026, 1, 26), dt.date(2026, 2, 4)).index)
    s = Settings(flows={"source": "auto", "dir": tmp_path / "flows", "vendor_name": "Acme"})
    md = load_market_data(provider_from_settings(s), dt.date(2026, 2, 4), history_days=700, flows_window_days=5)
    assert md.flows_simulated is False and md.sources["flows"].startswith("Acme:")
    runner = CliRunner()
    monkeypatch.setenv("NIGHTDESK_REFRESH__FACTORS__URL", f"{fixture_server}/french")
    res = runner.invoke(app, ["data", "refresh", "factors", "--store-dir", str(store_dir)])
    assert res.exit_code == 0, res.output
    assert "factors: Kenneth R. French Data Library" in res.output and "as of 2026-04-30" in res.output
    res = runner.invoke(app, ["data", "refresh", "prices", "--store-dir", str(store_dir)])
    assert res.exit_code == 2 and "error: refresh 'prices': unknown input" in res.output
    res = runner.invoke(app, ["data", "refresh", "caps", "--file", str(tmp_path / "missing.csv"), "--store-dir", str(store_dir)])
    assert res.exit_code == 2 and "no such file" in res.output and "Traceback" not in res.output
