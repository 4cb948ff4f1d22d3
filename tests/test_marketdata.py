"""Market data for many dates: shared reads must not change what any one date sees."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nightdesk.marketdata.base import DataError
from nightdesk.marketdata.registry import MarketDataBatch, data_fingerprint, load_market_data


@pytest.mark.slow  # simulated flows and facts for several dates: about 10 s
def test_batch_gives_each_date_what_a_single_load_gives(sample_provider):
    days = [dt.date(2026, 2, 3), dt.date(2026, 2, 4)]
    batch = MarketDataBatch(sample_provider, days, history_days=700)
    for day in days:
        one, alone = batch.for_day(day), load_market_data(sample_provider, day, history_days=700)
        assert one.px_close.index[-1].date() == day  # no later closes leak in
        pd.testing.assert_frame_equal(one.px_close, alone.px_close)
        # simulated flows: each date's draw reads only returns up to that date, so the shared window changes nothing
        assert one.flows_simulated and one.flows["date"].max() == pd.Timestamp(day)
        pd.testing.assert_frame_equal(one.flows.reset_index(drop=True), alone.flows.reset_index(drop=True))
        assert data_fingerprint(one) == data_fingerprint(alone)


def test_batch_names_a_date_without_closes(sample_provider):
    batch = MarketDataBatch(sample_provider, [dt.date(2026, 2, 4), dt.date(2026, 2, 7)], history_days=700)
    assert batch.for_day(dt.date(2026, 2, 4)).date == dt.date(2026, 2, 4)
    with pytest.raises(DataError, match="data for 2026-02-07 not complete"):
        batch.for_day(dt.date(2026, 2, 7))  # a Saturday: the other dates are still served
