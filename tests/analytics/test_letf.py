"""Rebalancing formula on hand-worked cases and reasonableness on a real big day."""
import pytest

from analytics.letf import rebalance_flow_usd


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
