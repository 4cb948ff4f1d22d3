"""Prefect flows under prefect_test_harness: retries on I/O, clear failure, holiday skip, backfill resume."""
import datetime as dt
import json

import pytest

from nightdesk.marketdata.registry import get_provider
from nightdesk.settings import Settings

pytestmark = pytest.mark.slow  # Prefect servers / a browser


class Flaky:
    """The sample provider, failing its first ``n`` coverage calls with a connection error."""

    def __init__(self, n: int):
        self.inner = get_provider("sample")
        self.name = "sample"
        self.calls = 0
        self.failures = 0
        self.n = n

    def coverage(self):
        self.calls += 1
        if self.calls <= self.n:
            self.failures += 1
            raise ConnectionError("provider timed out")
        return self.inner.coverage()

    def __getattr__(self, item):
        return getattr(self.inner, item)


def _settings(tmp_path, **kw):
    return Settings(output_dir=tmp_path, langs=["en"], fetch_retry_delays_s=[0.05, 0.05, 0.05], **kw)


def test_provider_fails_twice_then_succeeds(tmp_path, prefect_harness):
    from nightdesk.flows.nightly import regenerate_note

    flaky = Flaky(2)
    result = regenerate_note(dt.date(2025, 4, 9), flaky, None, False, _settings(tmp_path))
    assert flaky.failures == 2  # two failed attempts, retried, then the run completed
    assert (tmp_path / "2025-04-09" / "note.en.pdf").exists() and result["date"] == "2025-04-09"


def test_provider_always_fails_leaves_previous_note(tmp_path, prefect_harness):
    from nightdesk.flows.nightly import regenerate_note

    prev = tmp_path / "2025-04-09"
    prev.mkdir()
    (prev / "note.en.html").write_text("previous")
    with pytest.raises(ConnectionError):
        regenerate_note(dt.date(2025, 4, 9), Flaky(99), None, False, _settings(tmp_path))
    assert (prev / "note.en.html").read_text() == "previous"


def test_bad_data_is_not_retried(tmp_path, prefect_harness):
    from nightdesk.flows.nightly import regenerate_note
    from nightdesk.marketdata.base import DataError

    flaky = Flaky(0)
    with pytest.raises(DataError, match="not a NYSE session"):
        regenerate_note(dt.date(2026, 2, 16), flaky, None, False, _settings(tmp_path))
    assert flaky.calls == 1


def test_nightly_skips_holiday(tmp_path, prefect_harness):
    from nightdesk.flows.nightly import nightly_note

    assert nightly_note("sample", _settings(tmp_path), dt.date(2026, 2, 16)) is None
    assert not any(tmp_path.iterdir())


def test_nightly_refuses_stale_data(tmp_path, prefect_harness):
    from nightdesk.flows.nightly import nightly_note
    from nightdesk.marketdata.base import DataError

    s = _settings(tmp_path, late_data_window_s=0.2, late_data_poll_s=0.1)
    with pytest.raises(DataError, match="data for 2026-08-04 not complete"):
        nightly_note("sample", s, dt.date(2026, 8, 4))  # the sample ends 2026-08-03


def test_backfill_resumes(tmp_path, prefect_harness):
    from nightdesk.flows.backfill import backfill

    s = _settings(tmp_path, history_days=700)  # a shorter history keeps the test fast; the logic is the same
    first = backfill(dt.date(2026, 2, 3), dt.date(2026, 2, 3), "sample", ["en"], False, s)  # one edition: resuming is per date
    assert first["done"] == 1 and not first["failed"]
    again = backfill(dt.date(2026, 1, 31), dt.date(2026, 2, 3), "sample", ["en"], False, s)  # from a Saturday
    assert again["dates"] == 2 and again["skipped"] == 1 and again["done"] == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")) == ["2026-02-02", "2026-02-03"]
    assert "2026-02-02" in (tmp_path / "index.html").read_text()  # the archive page lists every date


def test_backfill_on_a_local_dask_cluster(tmp_path, prefect_harness):
    """The same backfill flow with prefect-dask's DaskTaskRunner on a 2-worker local cluster."""
    from nightdesk.flows.backfill import dask_backfill

    s = _settings(tmp_path, history_days=700)
    out = dask_backfill()(dt.date(2026, 2, 5), dt.date(2026, 2, 6), "sample", ["en"], False, s)
    assert out["done"] == 2 and not out["failed"]
    facts = json.loads((tmp_path / "2026-02-06" / "facts.json").read_text())
    assert facts["meta"]["date"] == "2026-02-06" and (tmp_path / "2026-02-06" / "note.en.pdf").stat().st_size > 50_000


def test_backfill_workers_report_to_the_commands_one_server(tmp_path):
    """`nightdesk backfill` with no Prefect server configured starts one local server, and the
    task processes report to it: no temporary server of their own (each took a third of a core)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTDESK_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_LOGGING_LEVEL="INFO", PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="INFO",
               NIGHTDESK_HISTORY_DAYS="700", NIGHTDESK_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-W", "ignore", "-m", "nightdesk.cli", "backfill", "--start", "2026-02-04", "--end", "2026-02-04",
           "--lang", "en", "--output-dir", str(tmp_path / "out")]
    run = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "out" / "2026-02-04" / "note.en.pdf").exists()
    assert (run.stdout + run.stderr).count("Starting temporary server") == 0
    assert (tmp_path / "home" / ".nightdesk" / "prefect" / "server.log").read_text().count("starts prefect server") == 1
