"""Shared fixtures: the bundled sample, loaded once; one published note for 2026-02-04."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

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
