"""Shared fixtures: the bundled sample, loaded once; one published note for 2026-02-04."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
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


GOLDEN_DAYS = {"crash": dt.date(2026, 2, 4), "quiet": dt.date(2025, 7, 28), "rally": dt.date(2026, 4, 8)}
"""Real sessions of the sample with hand-checked figures (the demo day is the crash)."""


@pytest.fixture(scope="session")
def records(sample_provider):
    """The facts records of :data:`GOLDEN_DAYS`, computed once (the facts layer, no Prefect)."""
    from nightdesk import facts
    from nightdesk.marketdata.registry import load_market_data
    from nightdesk.settings import Settings

    s = Settings()
    return {k: facts.compute(load_market_data(sample_provider, d, history_days=s.history_days), s) for k, d in GOLDEN_DAYS.items()}


@pytest.fixture(scope="session")
def demo_record(records):
    return records["crash"]


@pytest.fixture(scope="session")
def published(tmp_path_factory, demo_record, chart_fonts):
    """The note for 2026-02-04 in all editions, rendered and published into a temporary output
    folder by the rendering layer (the Prefect flow itself is tested in test_flows.py)."""
    from nightdesk import __version__
    from nightdesk.narrative.compose import compose_notes
    from nightdesk.rendering.outputs import publish_note

    out = tmp_path_factory.mktemp("output")
    info = publish_note(demo_record, compose_notes(demo_record, ["en", "zh-Hant", "zh-Hans"]), out, version=__version__, fontconfig=chart_fonts)
    return out, info


FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser):
    parser.addoption("--live", action="store_true", default=False, help="run the tests marked 'live' against the real endpoints")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``live`` call real public endpoints: skipped unless ``--live`` (and then skipped without a network)."""
    live = config.getoption("--live")
    reason = "needs --live" if not live else None
    if live and not _network():
        reason = "no network"
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"live endpoint test: {reason}")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


def _network() -> bool:
    import socket

    try:
        socket.create_connection(("www.sec.gov", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def fixture_server():
    """A local HTTP server (127.0.0.1) serving ``tests/fixtures/refresh`` by path: the adapters' stored bodies."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(FIXTURES / "refresh"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
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
