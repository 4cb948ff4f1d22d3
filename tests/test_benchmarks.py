"""The benchmarks still run: every section of benchmarks/run.py on tiny inputs (figures unused).

Speed goals live in the benchmarks, not in tests; this only keeps them from rotting when an API
they call changes (three sections had stopped running before this test)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_sections_run_on_tiny_inputs(tmp_path):
    env = {**os.environ, "NIGHTDESK_BENCH_QUICK": "1", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    run = subprocess.run([sys.executable, "-W", "ignore", str(ROOT / "benchmarks" / "run.py"), "momentum", "rotation", "pdf", "delivery", "store"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    for title in ("momentum: synthetic", "rotation (sample", "leveraged ETFs", "retail / institutional flows", "PDF rendering",
                  "delivery: 20 subscribers", "market-data store"):
        assert title in run.stdout, title
    assert run.stdout.count(" 20 sent") == 2  # both SMTP servers took every message
