"""``nightdesk serve`` on one machine, as an operator runs it: no Prefect server started beforehand.

One real ``nightdesk serve`` process (a fresh home, so a fresh Prefect database) starts and
supervises its own ``prefect server start``, registers the deployments with the nightly cron and
runs them. Through Prefect's REST API the test checks the schedule and its scheduled runs, runs the
night of 2026-02-04 now (Prefect's "run now", as ``prefect deployment run`` does) and sees it
publish and deliver to the outbox, with its INFO logs and artifact in the API, and a night whose
data never came (Failed, one webhook alert); then a server killed under it (restarted on the
same address), and ``kill -9`` of serve itself (its server goes too). A rerun sending nothing
twice and the holiday skip are flow tests (tests/ops/test_alerts.py), not served runs: each served
run is a new process importing the whole package.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path, webhook_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTDESK_"))}
    env.update(NIGHTDESK_HOME=str(home), NIGHTDESK_PREFECT__PORT="0", NIGHTDESK_PREFECT__UI="false", NIGHTDESK_LANGS='["en"]',
               NIGHTDESK_HISTORY_DAYS="700", NIGHTDESK_LATE_DATA_WINDOW_S="0", NIGHTDESK_ALERTS__WEBHOOK_URL=webhook_url,
               NIGHTDESK_PREFECT__RESTART_DELAYS_S="[0.5]", PREFECT_HOME=str(home / "client-prefect"),
               PREFECT_RUNNER_POLL_FREQUENCY="1", PYTHONWARNINGS="ignore")
    return env


T0 = time.monotonic()


def _wait(predicate, timeout_s: float, what: str, every_s: float = 0.25):
    print(f"{time.monotonic() - T0:6.1f} s: waiting for {what}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class Api(httpx.Client):
    """Prefect's REST API; 503 (SQLite busy under load) is retried, as Prefect's own client does."""

    def send(self, request, **kw):
        for _ in range(20):
            resp = super().send(request, **kw)
            if resp.status_code != 503:
                return resp
            time.sleep(0.5)
        return resp


def _final(api: httpx.Client, run_id: str) -> dict:
    def done():
        run = api.get(f"/flow_runs/{run_id}").json()
        return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None
    return _wait(done, 120, f"flow run {run_id}")


def _run_now(api: httpx.Client, deployment_id: str, **parameters) -> str:
    resp = api.post(f"/deployments/{deployment_id}/create_flow_run", json={"parameters": parameters})
    resp.raise_for_status()
    return resp.json()["id"]


def _log_lines(api: httpx.Client, *prefixes: str) -> list[str]:
    """The INFO-and-above log messages in the API once every prefix has one (logs are shipped in batches)."""
    def found():
        logs = [x["message"] for x in api.post("/logs/filter", json={"logs": {"level": {"ge_": 20}}, "sort": "TIMESTAMP_DESC", "limit": 200}).json()]
        return logs if all(any(m.startswith(p) for m in logs) for p in prefixes) else None
    return _wait(found, 15, f"log lines {prefixes}", every_s=0.5)


def _emls(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*.eml") if "alerts" not in p.parts)


def test_serve_schedules_publishes_delivers_alerts_and_survives_its_server(tmp_path, webhook):
    from nightdesk.delivery.store import add_subscriber, connect

    home = tmp_path / "home"
    (home / ".nightdesk").mkdir(parents=True)
    add_subscriber(connect(f"sqlite:///{home}/.nightdesk/subscribers.db"), "ann@desk.news", name="Ann", language="en")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()  # serve's working directory: nothing depends on it
    log = (tmp_path / "serve.log").open("w+")
    t0 = time.monotonic()
    serve = subprocess.Popen([sys.executable, "-m", "nightdesk.cli", "serve"], cwd=elsewhere, env=_env(home, webhook.url),
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out = lambda: Path(log.name).read_text()  # noqa: E731
        _wait(lambda: "serving the nightly note" in out() or serve.poll() is not None, 150, "serve to start")
        assert serve.poll() is None, out()
        ready_s = time.monotonic() - t0
        state = json.loads((home / ".nightdesk" / "prefect" / "server.json").read_text())
        api = Api(base_url=state["api_url"], timeout=30)

        # the schedule: 18:30 New York, Monday to Friday; Prefect's scheduler creates its runs
        nightly = api.get("/deployments/name/nightly-note/nightly").json()
        (schedule,) = nightly["schedules"]
        assert schedule["schedule"]["cron"] == "30 18 * * 1-5" and schedule["schedule"]["timezone"] == "America/New_York"
        scheduled = _wait(lambda: api.post("/flow_runs/filter", json={
            "deployments": {"id": {"any_": [nightly["id"]]}}, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).json(),
            30, "the scheduler's runs")
        assert all(r["auto_scheduled"] and r["parameters"] == {} for r in scheduled)
        assert {r["expected_start_time"][11:16] for r in scheduled} <= {"23:30", "22:30"}  # 18:30 New York in UTC

        # run now: the night of 2026-02-04 (published, then delivered to the outbox) and a night whose
        # data never came (the sample ends 2026-08-03: Failed, one alert)
        first = _run_now(api, nightly["id"], today="2026-02-04")
        missing = _run_now(api, nightly["id"], today="2026-08-04")
        night = _final(api, first)
        assert night["state_type"] == "COMPLETED", out()
        assert (home / "output" / "2026-02-04" / "note.en.pdf").stat().st_size > 50_000
        (eml,) = _emls(home)
        assert b"ann@desk.news" in eml.read_bytes()
        (art,) = api.post("/artifacts/filter", json={"artifacts": {"key": {"any_": ["nightdesk-note"]}}}).json()
        assert f"file://{home}/output/2026-02-04/note.en.html" in art["data"]  # the run's artifact links the note
        failed = _final(api, missing)
        assert failed["state_type"] == "FAILED" and "2026-08-04" in failed["state"]["message"]
        (post,) = webhook.wait_for(1, 10)
        assert post["run_id"] == missing and post["job"] == "nightly-note" and post["parameters"] == {"today": "2026-08-04"}
        _log_lines(api, "published 2026-02-04: L/S momentum", "nightly 2026-02-04: published")  # INFO logs reach the API
        assert len(webhook.posts) == 1
        runs_s = time.monotonic() - t0 - ready_s

        # the server dies under serve: reported, restarted on the same address
        os.kill(state["server_pid"], signal.SIGKILL)
        _wait(lambda: "Prefect server restarted" in out(), 90, "the restart")
        restarted = json.loads((home / ".nightdesk" / "prefect" / "server.json").read_text())
        assert restarted["api_url"] == state["api_url"] and restarted["server_pid"] != state["server_pid"]
        assert api.get("/health").status_code == 200
        assert "exited with signal 9 (SIGKILL)" in out()

        # kill -9 of serve takes its server with it
        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
        _wait(lambda: not Path(f"/proc/{restarted['server_pid']}").exists(), 10, "the server to die with serve")
        print(f"serve ready {ready_s:.1f} s; runs {runs_s:.1f} s; total {time.monotonic() - t0:.1f} s")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        log.close()
