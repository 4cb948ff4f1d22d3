"""The Examples in docstrings are run: an example that no longer holds fails here."""
import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["nightdesk.analytics.flows", "nightdesk.analytics.letf", "nightdesk.analytics.quality", "nightdesk.flows.backfill",
                                  "nightdesk.marketdata.staleness", "nightdesk.marketdata.flows_source", "nightdesk.marketdata.refresh",
                                  "nightdesk.marketdata.calendar", "nightdesk.marketdata.validate",
                                  "nightdesk.delivery.tokens", "nightdesk.delivery.links", "nightdesk.delivery.mailto", "nightdesk.rendering.publish",
                                  "nightdesk.tables", "nightdesk.web.i18n", "nightdesk.web.security", "nightdesk.web.site", "nightdesk.web.archive"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, result
