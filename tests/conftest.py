"""Shared fixtures: the bundled sample, loaded once; one published note for 2026-02-04."""
from __future__ import annotations

import datetime as dt
import os
import shutil

import pandas as pd
import pytest

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def sample_provider():
    from nightdesk.marketdata.registry import get_provider

    return get_provider("sample")


@pytest.fixture(scope="session")
def sample_prices(sample_provider) -> pd.DataFrame:
    first, last = sample_provider.coverage()
    return sample_provider.prices(first, last)


@pytest.fixture(scope="session")
def registry(sample_provider) -> pd.DataFrame:
    return sample_provider.reference_data()["letf_registry"]


@pytest.fixture(scope="session")
def gate_report(sample_prices, registry):
    from nightdesk.analytics.quality import quality_gate
    from nightdesk.marketdata.calendar import nyse

    reg = registry.set_index("ticker")
    sessions = nyse().sessions_in_range(sample_prices.index[0], sample_prices.index[-1])
    return quality_gate(sample_prices, pd.DatetimeIndex(sessions), leverage=reg["leverage"], proxy=reg["underlying_proxy"])


@pytest.fixture(scope="session")
def chart_fonts():
    """The charts' fontconfig file (desubroutinized CJK faces in the default cache folder)."""
    from nightdesk.settings import Settings
    from nightdesk.rendering.pdf import chart_fontconfig

    return chart_fontconfig(Settings().cache_dir)


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def published(tmp_path_factory, prefect_harness):
    """Run the real flow once for 2026-02-04 into a temporary output folder."""
    from nightdesk.flows.nightly import regenerate_note
    from nightdesk.settings import Settings

    out = tmp_path_factory.mktemp("output")
    settings = Settings(output_dir=out, langs=["en", "zh-Hant", "zh-Hans"])
    result = regenerate_note(dt.date(2026, 2, 4), "sample", None, False, settings)
    return out, result


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test session (Debian's, driven by Playwright; no browser download)."""
    from playwright.sync_api import sync_playwright

    if not shutil.which("chromium"):
        pytest.fail("Debian chromium is not installed: run `bash scripts/install.sh --test`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
