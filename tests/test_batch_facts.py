"""Facts for many dates share one pass over their history: each date's record must be exactly
what the date gives alone (the nightly run and ``nightdesk run --date``)."""
from __future__ import annotations

import datetime as dt

import pytest

import pandas as pd

from nightdesk import facts
from nightdesk.facts.build import history_groups
from nightdesk.marketdata.registry import MarketDataBatch, load_market_data
from nightdesk.settings import Settings

# a month end (baskets re-formed on 10-31) whose quality-gated returns differ from 11-03's up to
# it (the gate looks ahead a few sessions), so it must be computed alone; 10-29 shares 11-03's pass
DAYS = [dt.date(2025, 10, 29), dt.date(2025, 10, 31), dt.date(2025, 11, 3)]


@pytest.mark.slow  # simulated flows and facts for several dates: about 10 s
def test_batched_facts_equal_each_date_alone(sample_provider):
    s = Settings()
    batch = MarketDataBatch(sample_provider, DAYS, history_days=s.history_days)
    mds = [batch.for_day(d) for d in DAYS]
    groups = history_groups({md.date: md for md in mds}, {md.date: facts.gate(md) for md in mds})
    assert groups == [[DAYS[0], DAYS[2]], [DAYS[1]]]
    together = facts.compute_many(mds, s)
    for d in DAYS:
        alone = facts.compute(load_market_data(sample_provider, d, history_days=s.history_days), s)
        assert facts.to_json(together[d]) == facts.to_json(alone), d


def test_batched_facts_report_a_date_without_history_and_go_on(sample_provider):
    s = Settings()
    days = [dt.date(2015, 6, 1), dt.date(2015, 6, 2)]  # months into the sample: no 12-1 momentum history yet
    batch = MarketDataBatch(sample_provider, days, history_days=s.history_days)
    out = facts.compute_many([batch.for_day(d) for d in days], s)
    assert all(isinstance(v, Exception) and "momentum for 2015-06-0" in str(v) for v in out.values())


def test_january_study_for_many_dates_equals_each_alone(gate_report, registry, sample_provider):
    """Dates either side of March 31 (the year's study joins) and of a year end (a new basket):
    one pass gives each date what its own returns, up to it, give."""
    from nightdesk.facts.gate import Gate
    from nightdesk.facts.sections import History, january_sections

    md = sample_provider  # the returns are the gate's; the History's data is not read by the study
    ret = gate_report.ret_1d
    members = [t for t in ret.columns if t not in set(registry["ticker"])][:200]

    def history(upto: pd.Timestamp) -> History:
        return History(md, Gate(ret_1d=ret.loc[:upto], members=members, flags={}, window_flags=pd.DataFrame(), n_usable=len(members)))

    days = [pd.Timestamp(d) for d in ("2024-12-31", "2025-01-02", "2025-03-31", "2025-04-01")]
    together = january_sections(history(days[-1]), days)
    assert together[days[2]]["jan_fm_n_years"] + 1 == together[days[3]]["jan_fm_n_years"]  # 2025's study joins on 04-01
    for d in days:
        assert together[d] == january_sections(history(d), [d])[d], d
