"""Shared fixtures: the bundled sample, loaded once; one published note for 2026-02-04."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
import shutil

import pandas as pd
import pytest

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# each xdist worker gets a Prefect home of its own: two temporary servers migrating one SQLite file at
# once time out ("Timed out while attempting to connect to ephemeral Prefect API server")
def _temporary_home(prefix: str) -> str:
    """A folder under the temp dir that goes when this (worker) process ends."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


if os.environ.get("PYTEST_XDIST_WORKER") and "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = _temporary_home(f"nightdesk-prefect-{os.environ['PYTEST_XDIST_WORKER']}-")
# and so does the local Prefect server a command started in-process runs (CliRunner): not the checkout's
if "NIGHTDESK_PREFECT__HOME" not in os.environ:
    os.environ["NIGHTDESK_PREFECT__HOME"] = _temporary_home(f"nightdesk-local-prefect-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")


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


STORY_DAYS = {
    "crash_both_legs": (dt.date(2026, 2, 4), "momentum_crash"),  # L/S -7.5% (-4.7 sigma), long 49.9% / short 50.1%
    "crash_de_grossing": (dt.date(2024, 4, 19), "momentum_crash"),  # -3.1 sigma, long leg 72%, index -0.9%, breadth 80%
    "crash_short_squeeze": (dt.date(2020, 11, 9), "momentum_crash"),  # vaccine day: short leg +17%
    "junk_rally": (dt.date(2022, 11, 10), "momentum_crash"),  # CPI day: index +5.5%, L/S -8.4%
    "crash_in_selloff": (dt.date(2025, 3, 10), "momentum_crash"),  # index -2.7%, L/S -2.7 sigma
    "momentum_rally": (dt.date(2026, 4, 8), "momentum_rally"),  # +3.2 sigma on a +2.6% index day
    "rally_in_selloff": (dt.date(2022, 3, 7), "momentum_rally"),  # index -3.0%, L/S +2.5 sigma
    "index_selloff": (dt.date(2025, 4, 4), "index_selloff"),  # -5.9%, L/S -1.1 sigma
    "index_rally": (dt.date(2025, 4, 9), "index_rally"),  # +10.5%, L/S -0.1 sigma
    "rotation_day": (dt.date(2025, 1, 6), "rotation_day"),
    "quiet": (dt.date(2025, 7, 28), "quiet"),
}
"""One real session of each story (hand-checked figures in the comments)."""


def _built_once(name: str, build) -> Path:
    """A folder of derived test inputs, built once and kept under the cache folder, keyed by the
    code and data that shape it (:func:`nightdesk.facts.inputs.code_fingerprint`, the bundled
    sample's files, the Python and package versions): the xdist workers and later runs of the
    same code read it instead of computing it again; any change to the code or data builds it anew."""
    import fcntl
    import hashlib
    import shutil
    import sys
    from importlib import metadata

    from nightdesk.facts.inputs import code_fingerprint
    from nightdesk.marketdata.directory import SAMPLE_DIR
    from nightdesk.settings import Settings

    h = hashlib.sha256(code_fingerprint().encode() + sys.version.encode())
    for pkg in ("pandas", "numpy", "matplotlib", "weasyprint", "pikepdf", "opencc"):
        h.update(metadata.version(pkg).encode())
    for f in sorted(SAMPLE_DIR.iterdir()):
        h.update(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}".encode())
    root = Settings().cache_dir / "tests"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{name}-{h.hexdigest()[:16]}"
    with open(root / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if not target.exists():
            for old in root.glob(f"{name}-*"):  # an earlier code version's
                shutil.rmtree(old, ignore_errors=True)
            tmp = root / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            build(tmp)
            tmp.rename(target)
    return target


@pytest.fixture(scope="session")
def story_records(sample_provider):
    """The facts records of :data:`STORY_DAYS`, computed once (:func:`_built_once`)."""
    from nightdesk import facts
    from nightdesk.marketdata.registry import load_market_data
    from nightdesk.settings import Settings

    def build(folder: Path) -> None:
        s = Settings()
        for key, (day, _) in STORY_DAYS.items():
            rec = facts.compute(load_market_data(sample_provider, day, history_days=s.history_days), s)
            (folder / f"{key}.json").write_text(facts.to_json(rec), encoding="utf-8")

    store = _built_once("story-records", build)
    return {key: facts.from_json((store / f"{key}.json").read_text(encoding="utf-8")) for key in STORY_DAYS}


@pytest.fixture(scope="session")
def records(story_records):
    """The facts records of :data:`GOLDEN_DAYS` (crash, quiet, rally)."""
    by_day = {d: story_records[k] for k, (d, _) in STORY_DAYS.items()}
    return {k: by_day[d] for k, d in GOLDEN_DAYS.items()}


@pytest.fixture(scope="session")
def demo_record(records):
    return records["crash"]


@pytest.fixture(scope="session")
def published(tmp_path_factory, demo_record, chart_fonts):
    """The note for 2026-02-04 in all editions, rendered and published into a temporary output
    folder by the rendering layer (the Prefect flow itself is tested in test_flows.py)."""
    import json
    import shutil

    from nightdesk import __version__
    from nightdesk.narrative.compose import compose_notes
    from nightdesk.rendering.outputs import publish_note

    def build(folder: Path) -> None:
        info = publish_note(demo_record, compose_notes(demo_record, ["en", "zh-Hant", "zh-Hans"]), folder, version=__version__, fontconfig=chart_fonts)
        (folder / "info.json").write_text(json.dumps(info), encoding="utf-8")

    built = _built_once("published", build)
    out = tmp_path_factory.mktemp("output")
    shutil.copytree(built / "2026-02-04", out / "2026-02-04", symlinks=True)  # a copy: tests may add to their output folder
    info = json.loads((built / "info.json").read_text(encoding="utf-8"))
    return out, {**info, "folder": str(out / "2026-02-04")}


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
