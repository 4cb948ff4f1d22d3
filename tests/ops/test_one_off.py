"""One-off commands (``nightdesk run``, ``backfill``) and their local Prefect server: it goes when they
go, even on ``kill -9`` (Prefect's own temporary server was left running), and the runs' INFO logs
land in its database while the terminal shows only the result."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTDESK_"))}
    env.update(NIGHTDESK_HOME=str(home), NIGHTDESK_HISTORY_DAYS="700", PREFECT_HOME=str(home / "client-prefect"), PYTHONWARNINGS="ignore")
    return env


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of ``pid``'s child processes."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append((int(stat.parent.name), cmd))
    return out


def _prefect_servers(pid: int) -> list[int]:
    """Children of ``pid`` that are a Prefect server: ours (prefect server start) or Prefect's temporary one (uvicorn)."""
    return [c for c, cmd in _children(pid) if "prefect server start" in cmd or "prefect.server.api.server:create_app" in cmd]


def test_a_killed_command_leaves_no_prefect_server(tmp_path):
    """``run`` here; ``backfill`` and ``deliver`` start their server the same way (_start_local_prefect)."""
    args = ["run", "--date", "2026-02-04", "--lang", "en"]
    cli = subprocess.Popen([sys.executable, "-m", "nightdesk.cli", *args], env=_env(tmp_path), cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        servers: list[int] = []
        while not servers and cli.poll() is None and time.monotonic() < deadline:
            servers = _prefect_servers(cli.pid)
            time.sleep(0.05)
        assert servers, "no Prefect server was started"
        time.sleep(1.0)  # well into its start-up
        cli.kill()
        cli.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2] for p in servers) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [p for p in servers if Path(f"/proc/{p}").exists() and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]
        assert not alive, f"Prefect server {alive} outlived the killed command"
    finally:
        if cli.poll() is None:
            cli.kill()


def test_run_logs_to_its_prefect_database_and_stops_its_server(tmp_path):
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "nightdesk.cli", "run", "--date", "2026-02-04", "--lang", "en"], env=_env(tmp_path),
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    wall_s = time.monotonic() - t0
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith(f"published {tmp_path}/output/2026-02-04 in ")  # the home's output/, not the working directory's
    assert "INFO" not in run.stderr and "Finished in state" not in run.stderr  # the terminal: warnings and the result only
    db = sqlite3.connect(tmp_path / ".nightdesk" / "prefect" / "prefect.db")
    messages = [m for (m,) in db.execute("select message from log where level >= 20")]
    assert any(m.startswith("published 2026-02-04: L/S momentum fell 7.5%") for m in messages), messages
    log = (tmp_path / ".nightdesk" / "prefect" / "server.log").read_text()
    assert "starts prefect server on http://127.0.0.1:" in log
    print(f"nightdesk run, en, fresh Prefect database: {wall_s:.1f} s")
