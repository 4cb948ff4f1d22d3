"""Rebalancing formula on hand-worked cases and reasonableness on a real big day."""
import pytest

from nightdesk.analytics.letf import rebalance_flow_usd


@pytest.mark.parametrize(
    "lev,r,expected",
    [(2, -0.01, -20e6), (3, -0.02, -120e6), (-1, -0.02, -40e6), (-3, -0.02, -240e6), (3, 0.01, 60e6), (-1, 0.01, 20e6)],
)
def test_formula(lev, r, expected):
    assert rebalance_flow_usd(1e9, lev, r) == pytest.approx(expected)


def test_real_day_in_desk_range(published):
    import json

    out, _ = published
    facts = json.loads((out / "2026-02-04" / "facts.json").read_text())
    letf = facts["letf"]
    # QQQ -1.75% and SOXX down sharply: desks report several $bn of LETF selling on such days
    assert -25e9 < letf["rebalance_total_usd"] < -3e9
    by = {u["proxy"]: u["flow_usd"] for u in letf["by_underlying"]}
    assert by["QQQ"] < -1e9 and by["SOXX"] < -1e9


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_dealer_gamma_from_an_options_file(tmp_path, sample_provider):
    """With an open-interest file for the date, dealer GEX is computed (Black-Scholes gamma by hand)
    and netted against LETF gamma; the note then reports it instead of 'not covered'."""
    import datetime as dt
    import math

    from nightdesk import facts as nd_facts
    from nightdesk.marketdata.registry import load_market_data
    from nightdesk.narrative.compose import as_text, compose_note
    from nightdesk.settings import Settings

    day = dt.date(2026, 2, 4)
    # a test chain (not market data): 1,000 calls at 690 and 2,000 puts at 650, 16 days out
    (tmp_path / "2026-02-04.csv").write_text("expiry,strike,type,open_interest,iv\n2026-02-20,690,C,1000,0.20\n2026-02-20,650,put,2000,0.25\n")
    s = Settings(options_dir=tmp_path, history_days=700)
    md = load_market_data(sample_provider, day, history_days=s.history_days, options_dir=s.options_dir)
    facts = nd_facts.compute(md, s)
    spot, t = float(md.px_close.at[md.px_close.index[-1], "SPY"]), 16 / 365

    def gex(k, iv, oi, sign):
        d1 = (math.log(spot / k) + 0.5 * iv**2 * t) / (iv * math.sqrt(t))
        gamma = math.exp(-0.5 * d1**2) / math.sqrt(2 * math.pi) / (spot * iv * math.sqrt(t))
        return sign * gamma * oi * 100 * spot**2 * 0.01

    letf = facts.letf
    assert letf.dealer_gamma_per_1pct_usd == pytest.approx(gex(690, 0.20, 1000, 1) + gex(650, 0.25, 2000, -1), rel=1e-5)
    assert letf.net_gamma_per_1pct_usd == pytest.approx(letf.dealer_gamma_per_1pct_usd - letf.gamma_per_1pct_usd, rel=1e-5)
    text = as_text(compose_note(facts, "en"))
    assert "Dealers" in text and "dealer gamma unavailable" not in text


def test_bad_options_file_names_file_and_row(tmp_path):
    from nightdesk.marketdata.base import DataError
    from nightdesk.marketdata.options_io import read_options_oi

    p = tmp_path / "2026-02-04.csv"
    p.write_text("expiry,strike,type,open_interest,iv\n2026-02-20,690,C,1000,0.20\n2026-02-20,650,P,2000,25\n")
    with pytest.raises(DataError, match=r"2026-02-04\.csv, row 3: iv must be a fraction"):
        read_options_oi(p)
