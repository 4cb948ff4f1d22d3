"""Backfill computes momentum and rotation once for many dates: each date's facts must be
exactly what the date gives alone (the nightly run and ``nightdesk run --date``)."""
from __future__ import annotations

import datetime as dt
import json

from nightdesk.flows.nightly import compute_facts, facts_for_dates, gate, shared_history_groups
from nightdesk.marketdata.registry import MarketDataBatch, load_market_data
from nightdesk.settings import Settings

# a month end (baskets re-formed on 10-31) whose quality-gated returns differ from 11-03's up to
# it (the gate looks ahead a few sessions), so it must be computed alone; 10-29 shares 11-03's pass
DAYS = [dt.date(2025, 10, 29), dt.date(2025, 10, 31), dt.date(2025, 11, 3)]


def test_batched_facts_equal_each_date_alone(sample_provider):
    s = Settings()
    batch = MarketDataBatch(sample_provider, DAYS, history_days=s.history_days)
    mds = {d: batch.for_day(d) for d in DAYS}
    groups = shared_history_groups(mds, {d: gate.fn(mds[d]) for d in DAYS})
    assert groups == [[DAYS[0], DAYS[2]], [DAYS[1]]]
    together = facts_for_dates(mds, s)
    for d in DAYS:
        alone = compute_facts(load_market_data(sample_provider, d, history_days=s.history_days), s)
        assert json.dumps(together[d], sort_keys=True) == json.dumps(alone, sort_keys=True), d


def test_batched_facts_report_a_date_without_history_and_go_on(sample_provider):
    s = Settings()
    days = [dt.date(2015, 6, 1), dt.date(2015, 6, 2)]  # months into the sample: no 12-1 momentum history yet
    batch = MarketDataBatch(sample_provider, days, history_days=s.history_days)
    out = facts_for_dates({d: batch.for_day(d) for d in days}, s)
    assert all(isinstance(v, Exception) and "momentum for 2015-06-0" in str(v) for v in out.values())


def test_january_study_for_many_dates_equals_each_alone(gate_report, registry):
    """Dates either side of March 31 (the year's study joins) and of a year end (a new basket):
    one pass gives each date what its own returns, up to it, give."""
    import pandas as pd

    from nightdesk.analytics.sections import january_sections

    ret = gate_report.ret_1d
    members = [t for t in ret.columns if t not in set(registry["ticker"])][:200]
    days = [pd.Timestamp(d) for d in ("2024-12-31", "2025-01-02", "2025-03-31", "2025-04-01")]
    together = january_sections(ret, members, days)
    assert together[days[2]]["jan_fm_n_years"] + 1 == together[days[3]]["jan_fm_n_years"]  # 2025's study joins on 04-01
    for d in days:
        assert together[d] == january_sections(ret.loc[:d], members, [d])[d], d
