"""The Examples in docstrings are run: an example that no longer holds fails here."""
import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["nightdesk.analytics.flows", "nightdesk.analytics.letf", "nightdesk.analytics.quality", "nightdesk.flows.backfill",
                                  "nightdesk.marketdata.staleness", "nightdesk.marketdata.flows_source", "nightdesk.marketdata.refresh",
                                  "nightdesk.marketdata.calendar", "nightdesk.marketdata.validate"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, result
