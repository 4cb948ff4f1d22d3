"""What Prefect costs a one-off run and ``nightdesk serve`` at start-up, on this machine.

    .venv/bin/python benchmarks/prefect_startup.py [rounds]

One date (2026-02-04, English only) three ways, interleaved round by round (the machine's load
moves separate runs by 2-3x), each in its own process with its own empty output folder:

* ``nightdesk run`` as it is: its own supervised ``prefect server start`` (no services, no UI),
  started in the background while the command loads, stopped after;
* the same flow on Prefect's temporary server, as ``nightdesk run`` did before 0.2.0
  (``regenerate_note`` with no API configured; the CLI then set only logging and time-out
  variables);
* the same steps as plain functions (no Prefect).

Then ``nightdesk serve`` from launch to "serving" (deployments registered) with a fresh home
(Prefect migrates a new database) and again with that home, and its stop on SIGINT.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD = ("import datetime as dt, os; os.environ.update(PREFECT_LOGGING_LEVEL='WARNING', PREFECT_SERVER_ANALYTICS_ENABLED='false', "
       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS='120'); from nightdesk.flows.nightly import regenerate_note; "
       "from nightdesk.settings import Settings; s = Settings(output_dir='{out}'); regenerate_note(dt.date(2026,2,4), 'sample', ['en'], False, s)")
PLAIN = ("import datetime as dt; from nightdesk import __version__, facts; from nightdesk.marketdata.registry import get_provider, load_market_data;"
         "from nightdesk.narrative.compose import compose_notes; from nightdesk.rendering.outputs import publish_note, write_archive;"
         "from nightdesk.rendering.pdf import prepare_fonts; from nightdesk.settings import Settings; s=Settings(output_dir='{out}');"
         "md=load_market_data(get_provider('sample'), dt.date(2026,2,4), history_days=s.history_days); r=facts.compute(md, s);"
         "publish_note(r, compose_notes(r, ['en']), s.output_dir, version=__version__, fontconfig=prepare_fonts(s.cache_dir)); write_archive(s.output_dir)")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTDESK_"))}
    env.update(NIGHTDESK_HOME=str(home), PREFECT_HOME=str(home / "prefect-client"), PYTHONWARNINGS="ignore")
    return env


def _timed(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t


def one_off(rounds: int) -> None:
    ways = {"nightdesk run (supervised server, 0.2.0)": lambda out: [sys.executable, "-m", "nightdesk.cli", "run", "--date", "2026-02-04",
                                                                       "--lang", "en", "--output-dir", out],
            "Prefect's temporary server (before 0.2.0)": lambda out: [sys.executable, "-c", OLD.format(out=out)],
            "plain functions (no Prefect)": lambda out: [sys.executable, "-c", PLAIN.format(out=out)]}
    times: dict[str, list[float]] = {k: [] for k in ways}
    with tempfile.TemporaryDirectory(prefix="nd-startup-") as tmp:
        env = _env(Path(tmp) / "home")
        for name, make in ways.items():  # warm-up: databases migrated, fonts cached, files in the page cache
            _timed(make(f"{tmp}/warm"), env)
        for i in range(rounds):
            for name, make in ways.items():
                times[name].append(_timed(make(f"{tmp}/{i}-{len(times[name])}-{name[:4]}"), env))
    plain = min(times["plain functions (no Prefect)"])
    print(f"one date (2026-02-04, en), wall time of the process, {rounds} interleaved rounds after a warm-up")
    for name, ts in times.items():
        extra = "" if name.startswith("plain") else f"   overhead vs plain (best): {min(ts) - plain:5.1f} s"
        print(f"  {name:<44} best {min(ts):5.1f} s  median {statistics.median(ts):5.1f} s{extra}")


def serve_startup() -> None:
    with tempfile.TemporaryDirectory(prefix="nd-serve-") as tmp:
        env = _env(Path(tmp) / "home")
        env.update(NIGHTDESK_PREFECT__PORT="0")
        print("nightdesk serve: launch -> deployments registered ('serving' printed)")
        for label in ("fresh home (new Prefect database)", "same home again"):
            log = Path(tmp) / "serve.log"
            with log.open("w") as fh:
                t = time.perf_counter()
                proc = subprocess.Popen([sys.executable, "-m", "nightdesk.cli", "serve"], env=env, cwd=tmp, stdout=fh, stderr=subprocess.STDOUT)
                while "serving" not in log.read_text() and proc.poll() is None and time.perf_counter() - t < 300:
                    time.sleep(0.05)
                ready = time.perf_counter() - t
                t = time.perf_counter()
                proc.send_signal(signal.SIGINT)
                proc.wait(60)
                stop = time.perf_counter() - t
            server_line = next((x for x in log.read_text().splitlines() if x.startswith("Prefect server ready in")), "")
            print(f"  {label:<36} {ready:5.1f} s ({server_line.split(':')[0]}); SIGINT -> exited {stop:4.1f} s")


if __name__ == "__main__":
    one_off(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    serve_startup()
