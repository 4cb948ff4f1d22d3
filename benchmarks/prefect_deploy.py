"""The production path of docs/deploy.md, run end to end on this machine, with its timings.

    .venv/bin/python benchmarks/prefect_deploy.py

In a temporary folder (nothing of the user's is touched): a Prefect server (``prefect server
start``, with services), a process work pool, ``prefect deploy --all`` from a folder holding only
a copy of ``prefect.yaml`` (the entry points are module paths), a process worker, a subscriber, then
``prefect deployment run nightly-note/nightly --param today=2026-02-04``: the worker runs it, the
note is published and delivered to the outbox. Then ``nightdesk web`` serves it. Every process is
started as in docs/deploy.md (the server and worker die with this script, even on ``kill -9``).
Exits non-zero when a step fails.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")


def main() -> None:
    from nightdesk.cli.prefect_server import LocalPrefectServer, dying_with_us, free_port, healthy

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nd-deploy-") as tmp:
        t = Path(tmp)
        home, project = t / "home", t / "project"
        (home / ".nightdesk").mkdir(parents=True)
        project.mkdir()
        shutil.copy(ROOT / "prefect.yaml", project / "prefect.yaml")
        server = LocalPrefectServer(t / "prefect-server", port=free_port(), services=True, ui=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIGHTDESK_"))}
        env.update(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(t / "prefect-client"), PREFECT_WORKER_QUERY_SECONDS="2",
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", NIGHTDESK_HOME=str(home), NIGHTDESK_LANGS='["en"]',
                   NIGHTDESK_HISTORY_DAYS="700", NIGHTDESK_WEB__SECRET_KEY=secrets.token_urlsafe(32), PYTHONWARNINGS="ignore")

        def cli(*args: str, cwd: Path = project) -> str:
            run = subprocess.run([*args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
            if run.returncode:
                raise SystemExit(f"{' '.join(args)} failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
            return run.stdout

        t0 = time.perf_counter()
        server.start()
        server.wait_ready(180)
        times["prefect server start (fresh database)"] = time.perf_counter() - t0
        worker = web = None
        try:
            t0 = time.perf_counter()
            cli(str(BIN / "prefect"), "work-pool", "create", "nightdesk", "--type", "process")
            cli(str(BIN / "prefect"), "--no-prompt", "deploy", "--all")
            times["work pool + prefect deploy --all"] = time.perf_counter() - t0
            cli(str(BIN / "nightdesk"), "subscribers", "add", "ops@desk.news", "--lang", "en")

            log = (t / "worker.log").open("w")
            worker = subprocess.Popen(dying_with_us(["-m", "prefect", "worker", "start", "--pool", "nightdesk"]), cwd=t, env=env,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            t0 = time.perf_counter()
            out = cli(str(BIN / "prefect"), "deployment", "run", "nightly-note/nightly", "--param", "today=2026-02-04")
            run_id = next(line.split("UUID:")[1].strip() for line in out.splitlines() if "UUID:" in line)
            api = httpx.Client(base_url=server.api_url, timeout=30)
            started = _wait(lambda: api.get(f"/flow_runs/{run_id}").json().get("start_time"), 120, "the worker to start the run")
            times["run submitted -> started by the worker"] = time.perf_counter() - t0
            final = _wait(lambda: (r := api.get(f"/flow_runs/{run_id}").json())["state_type"] in ("COMPLETED", "FAILED", "CRASHED") and r,
                          300, "the run to finish")
            times["run submitted -> Completed (publish + deliver, en)"] = time.perf_counter() - t0
            if final["state_type"] != "COMPLETED":
                raise SystemExit(f"run ended {final['state_type']}: {final['state']['message']}\n{(t / 'worker.log').read_text()[-3000:]}")
            pdf = home / "output" / "2026-02-04" / "note.en.pdf"
            emls = [p for p in home.rglob("*.eml")]
            assert pdf.stat().st_size > 50_000 and len(emls) == 1, (pdf, emls)
            assert started

            port = free_port()
            t0 = time.perf_counter()
            web = subprocess.Popen(dying_with_us(["-m", "nightdesk.cli", "web", "--port", str(port)]), cwd=t, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
            page = _wait(lambda: _get(f"http://127.0.0.1:{port}/en/2026-02-04/"), 60, "nightdesk web")
            times["nightdesk web start -> first page"] = time.perf_counter() - t0
            assert "2026-02-04" in page and _get(f"http://127.0.0.1:{port}/archive/2026-02-04/note.en.pdf", text=False)
            assert healthy(server.api_url)
        finally:
            for proc in (web, worker):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
            server.stop()
    print("production path (docs/deploy.md) on this machine: server, process pool, worker, nightly run, web")
    for what, seconds in times.items():
        print(f"  {what:<52} {seconds:6.1f} s")
    print("  published output/2026-02-04 (en), 1 message in the outbox, archive page and PDF served: ok")


def _get(url: str, text: bool = True):
    try:
        resp = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    return resp.text if text else resp.content


if __name__ == "__main__":
    main()
