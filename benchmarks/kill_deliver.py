"""kill -9 at random moments of `nightdesk deliver`: is every subscriber's note sent exactly once?

    .venv/bin/python benchmarks/kill_deliver.py [--kills 50] [--subscribers 30] [--seed 1]
                                                [--output-dir DIR] [--mode cli|core]

A local aiosmtpd server (in this process) counts every accepted message by Message-ID. Each
round adds a batch of subscribers; runs of `nightdesk deliver` are SIGKILLed (the whole
process group) at a random moment after they name their first recipient, until the batch is sent,
then the next batch comes. After ``--kills`` kills, one clean `deliver` runs, and every
subscriber must have exactly one message (counted at the server): "lost" is a subscriber
with none, "doubled" one with two or more.

The note comes from ``--output-dir`` (a published 2026-02-04), or is published first with
`nightdesk run --date 2026-02-04 --lang en`. ``--mode cli`` (default): each run is
`nightdesk deliver` and its Prefect flow, with one Prefect server started here for all of them.
``--mode core``: each run is a small child process calling ``delivery.send.deliver`` with the
English edition (no Prefect, no rendering imports: 0.4 s a start instead of 3-5 s); the test
suite's short version uses it. The ledger, claims and transport under test are the same.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATE = "2026-02-04"
CORE = """
import json, sys
from pathlib import Path
from nightdesk.delivery.message import mail_template
from nightdesk.delivery.send import deliver
from nightdesk.delivery.store import connect
from nightdesk.delivery.transport import SmtpTransport
c = json.loads(sys.argv[1])
templates = {"en": mail_template(c["summary"], Path(c["pdf"]), note_date=c["date"], language="en")}
r = deliver(connect(c["db_url"]), c["date"], templates=templates, transport=SmtpTransport("127.0.0.1", c["port"]),
            from_addr=c["from_addr"], unsubscribe_mailto="unsubscribe@nightdesk.invalid",
            unsubscribe_url="https://nightdesk.invalid/unsubscribe", rate_per_s=c["rate_per_s"])
print(r.summary())
sys.exit(0 if r.complete else 1)
"""


class Counting:
    """aiosmtpd handler: counts accepted messages by Message-ID, and recipients named (a run's progress)."""

    def __init__(self):
        self.by_id: collections.Counter[str] = collections.Counter()
        self.mails = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:  # a run's first recipient: it is sending (the CLI's server check before a run stops at MAIL FROM)
            self.mails += 1
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import email

        mid = email.message_from_bytes(envelope.content.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")["Message-ID"]
        with self.lock:
            self.by_id[mid] += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout_s: float) -> None:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


def publish(out: Path) -> None:
    subprocess.run([sys.executable, "-m", "nightdesk.cli", "run", "--date", DATE, "--lang", "en", "--output-dir", str(out)],
                   check=True, cwd=out.parent, capture_output=True)


def kill_loop(*, kills: int, batch: int, output_dir: Path, work: Path, seed: int, mode: str = "cli", env_extra: dict | None = None,
              log=print) -> dict:
    """Run the kill loop; returns counts (kills, subscribers, lost, doubled, ...) for the caller to print or assert."""
    from aiosmtpd.controller import Controller

    from nightdesk.delivery.message import message_id, sender_domain
    from nightdesk.delivery.store import add_subscriber, connect, list_subscribers

    rng = random.Random(seed)
    handler = Counting()
    port = free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    db_url = f"sqlite:///{work}/private/subs.db"
    rate_per_s = 50.0
    env = dict(os.environ, NIGHTDESK_OUTPUT_DIR=str(output_dir), NIGHTDESK_DELIVERY__DB_URL=db_url, NIGHTDESK_DELIVERY__TRANSPORT="smtp",
               NIGHTDESK_DELIVERY__SMTP__HOST="127.0.0.1", NIGHTDESK_DELIVERY__SMTP__PORT=str(port),
               NIGHTDESK_DELIVERY__RATE_PER_S=str(rate_per_s), PYTHONWARNINGS="ignore", **(env_extra or {}))
    from_addr = "Nightdesk Strategy <strategy@desk.news>"  # an SMTP send refuses placeholder addresses and unsigned links
    env.update(NIGHTDESK_DELIVERY__FROM_ADDR=from_addr, NIGHTDESK_DELIVERY__UNSUBSCRIBE_MAILTO="unsubscribe@desk.news",
               NIGHTDESK_WEB__BASE_URL="http://127.0.0.1:8080", NIGHTDESK_WEB__SECRET_KEY="kill-deliver-benchmark-key-0123456789abcdef")
    if mode == "core":
        from nightdesk.narrative.compose import email_summary, note_from_json

        summary = email_summary(note_from_json((output_dir / DATE / "note.en.json").read_text(encoding="utf-8")))
        cfg = {"summary": summary, "pdf": str(output_dir / DATE / "note.en.pdf"), "date": DATE, "db_url": db_url, "port": port,
               "from_addr": from_addr, "rate_per_s": rate_per_s}
        argv = [sys.executable, "-c", CORE, json.dumps(cfg)]
    else:
        argv = [sys.executable, "-m", "nightdesk.cli", "deliver", "--date", DATE]
    engine = connect(db_url)
    domain = sender_domain(from_addr)
    n_subs, done_kills, runs, completed_runs, t0 = 0, 0, 0, 0, time.perf_counter()

    def add_batch() -> None:
        nonlocal n_subs
        for i in range(n_subs, n_subs + batch):
            add_subscriber(engine, f"reader{i}@example.com", name=f"Reader {i}")
        n_subs += batch

    def unsent() -> int:
        return sum(1 for s in list_subscribers(engine, status="active") if handler.by_id[message_id(DATE, s.id, domain)] == 0)

    add_batch()
    try:
        while done_kills < kills:
            if unsent() == 0:
                add_batch()
            left = unsent()
            mails0 = handler.mails
            proc = subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            runs += 1
            while handler.mails == mails0 and proc.poll() is None:  # until this run speaks SMTP
                time.sleep(0.002)
            if proc.poll() is not None:
                completed_runs += 1
                err = proc.stderr.read().decode(errors="replace").strip().splitlines()
                log(f"  run {runs} ended by itself (exit {proc.returncode}) {err[-1] if err else ''}")
                if proc.returncode == 2:  # an error line: nothing will change by running again
                    raise RuntimeError(f"deliver failed: {err[-1] if err else '(no output)'}")
                continue
            time.sleep(rng.uniform(0, left / rate_per_s))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            done_kills += 1
        final = subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True, timeout=600)
        counts = [handler.by_id[message_id(DATE, s.id, domain)] for s in list_subscribers(engine, status="active")]
    finally:
        ctl.stop()
        engine.dispose()
    return {"kills": done_kills, "runs": runs + 1, "runs_not_killed": completed_runs, "subscribers": len(counts),
            "messages": sum(counts), "lost": counts.count(0), "doubled": sum(1 for c in counts if c > 1),
            "final_exit": final.returncode, "final_output": final.stdout.strip().splitlines()[-1:],
            "taken_as_delivered": final.stderr.count("taken as delivered"),
            "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--subscribers", type=int, default=30, help="batch size: subscribers added when the previous batch is all sent")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output-dir", type=Path, help="an output folder with a published 2026-02-04 (default: publish one, en only)")
    ap.add_argument("--mode", choices=("cli", "core"), default="cli", help="cli: `nightdesk deliver` and its flow; core: delivery.send only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kill-deliver-") as tmp:
        work = Path(tmp)
        out = args.output_dir or work / "output"
        if args.output_dir is None:
            print(f"publishing {DATE} (en) into {out} ...", flush=True)
            publish(out)
        env_extra, server = {}, None
        if args.mode == "cli" and "PREFECT_API_URL" not in os.environ:
            api_port = free_port()
            env_extra = {"PREFECT_API_URL": f"http://127.0.0.1:{api_port}/api", "PREFECT_HOME": str(work / "prefect")}
            server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(api_port)],
                                      env=dict(os.environ, **env_extra, PREFECT_SERVER_ANALYTICS_ENABLED="false"),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            print("starting a Prefect server for the runs ...", flush=True)
            wait_port(api_port, 180)
        try:
            res = kill_loop(kills=args.kills, batch=args.subscribers, output_dir=out, work=work, seed=args.seed, mode=args.mode,
                            env_extra=env_extra)
        finally:
            if server is not None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
    ok = res["lost"] == 0 and res["doubled"] == 0 and res["final_exit"] == 0
    print(f"\nkill -9 during `nightdesk deliver` ({'delivery.send only' if args.mode == 'core' else 'CLI + Prefect flow'}), seed {args.seed}")
    for key in ("kills", "runs", "runs_not_killed", "subscribers", "messages", "lost", "doubled", "final_exit", "taken_as_delivered"):
        print(f"  {key:<18} {res[key]}")
    print(f"  {'final run':<18} {' '.join(res['final_output'])}")
    print(f"  {'wall time':<18} {res['seconds']:.0f} s")
    print(f"\n{'nothing lost, nothing doubled' if ok else 'FAILED: a subscriber has no message or more than one'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
