"""kill -9 at random moments of publishing: ``output/<date>/`` must always be a complete note.

    .venv/bin/python benchmarks/kill_publish.py [--mode publish|run|run-publish] [--kills 50] [--seed 1]

Modes (issue #24, point 10):

``publish`` (default, ~0.3 s a kill)
    A child process publishes two small pre-rendered notes in turn, forever, through the real
    publishing code (:func:`rendering.publish.date_lock`, ``staging``, ``promote``); it is sent
    SIGKILL after a random delay.
``run``
    ``nightdesk run --date 2026-02-04 --lang en`` (the whole Prefect flow, ~20-30 s a run here),
    SIGKILLed at a random moment of its run.
``run-publish``
    The same run, SIGKILLed at a random moment after its staging folder appears (the render and
    publish step, where the swap happens).

After every kill the script checks that ``output/<date>/`` exists and that every file its
``manifest.json`` lists is there with the listed sha256, and counts the ``.tmp-*`` / ``.old-*``
folders left behind; after the last kill it runs once more without a kill and checks that
nothing is left behind. A killed ``nightdesk run`` leaves its temporary Prefect server running
(a known, separate problem): the script then kills the rest of the child's process group (only
processes it started) so that 50 kills do not leave 50 servers.

Prints the counts; exits 1 if any check failed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATE = "2026-02-04"

CHILD = r"""
import shutil, sys
from pathlib import Path
from nightdesk.rendering.publish import date_lock, promote, staging
out, date, sources = Path(sys.argv[1]), sys.argv[2], [Path(p) for p in sys.argv[3:]]
i = 0
while True:
    src = sources[i % len(sources)]
    with date_lock(out, date, wait=True):
        with staging(out, date) as tmp:
            for f in sorted(src.rglob("*")):
                dest = tmp / f.relative_to(src)
                dest.mkdir(exist_ok=True) if f.is_dir() else dest.write_bytes(f.read_bytes())
            promote(tmp, out, date)
    i += 1
"""


def make_note(folder: Path, tag: str, *, pdf_kb: int = 300) -> Path:
    """A small pre-rendered note (HTML, a PDF-sized blob, a chart, facts, manifest) in ``folder``."""
    from nightdesk.rendering.publish import manifest, write_json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "charts").mkdir(exist_ok=True)
    rnd = random.Random(tag)
    (folder / "note.en.html").write_text(f"<html><body><h1>note {tag}</h1></body></html>\n", encoding="utf-8")
    (folder / "note.en.pdf").write_bytes(rnd.randbytes(pdf_kb * 1024))
    (folder / "charts" / "momentum.en.svg").write_text(f"<svg><text>{tag}</text></svg>\n", encoding="utf-8")
    write_json(folder / "facts.json", {"meta": {"date": DATE, "tag": tag}})
    write_json(folder / "manifest.json", manifest(folder, version=f"bench-{tag}", data_as_of=DATE))
    return folder


def check_note(folder: Path) -> str | None:
    """None when ``folder`` is a complete note (every manifest file present, sha256 equal), else what is wrong."""
    if not folder.is_dir():
        return f"{folder} is missing"
    try:
        listed = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError) as exc:
        return f"{folder}/manifest.json unreadable: {exc}"
    for f in listed:
        path = folder / f["path"]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return f"{path} listed in the manifest is missing"
        if digest != f["sha256"]:
            return f"{path} does not match its manifest sha256"
    return None


def leftovers(out: Path) -> list[str]:
    """Staging folders and backups in ``out`` (what a killed run leaves)."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name))


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what is left of the child's process group (started by us: its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_and_check(proc: subprocess.Popen, out: Path, stats: dict) -> tuple[str | None, list]:
    """SIGKILL ``proc`` and its group (a temporary Prefect server it started), then check the
    published note and count what was left behind into ``stats``; returns (problem, leftovers)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _kill_group(proc)
    stats["kills"] += 1
    if (problem := check_note(out / DATE)) is not None:
        stats["failures"].append(problem)
    left = leftovers(out)
    stats["leftovers_seen"] += bool(left)
    stats["max_leftovers"] = max(stats["max_leftovers"], len(left))
    return problem, left


def kill_publish_loop(out: Path, *, kills: int, seed: int, max_delay_s: float = 0.4, env: dict | None = None) -> dict:
    """``publish`` mode: ``kills`` SIGKILLs of a child publishing two notes in turn; checks after each."""
    rnd = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="nd-kill-src-"))
    try:
        sources = [make_note(work / "a", "a"), make_note(work / "b", "b")]
        out.mkdir(parents=True, exist_ok=True)
        stats = {"kills": 0, "failures": [], "leftovers_seen": 0, "max_leftovers": 0}
        cmd = [sys.executable, "-c", CHILD, str(out), DATE, *map(str, sources)]
        first = subprocess.Popen(cmd, env=env, start_new_session=True)  # a first note, then the kills
        while check_note(out / DATE) is not None:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        for _ in range(kills):
            proc = subprocess.Popen(cmd, env=env, start_new_session=True)
            time.sleep(0.05 + rnd.random() * max_delay_s)  # python start-up takes ~0.05 s
            _kill_and_check(proc, out, stats)
        return stats
    finally:
        shutil.rmtree(work, ignore_errors=True)


def final_clean_publish(out: Path, env: dict | None = None) -> list[str]:
    """Publish once without a kill (what the next nightly run does); returns what is still left behind."""
    from nightdesk.rendering.publish import date_lock, promote, staging

    src = make_note(Path(tempfile.mkdtemp(prefix="nd-kill-final-")), "final")
    try:
        with date_lock(out, DATE):
            with staging(out, DATE) as tmp:
                for f in sorted(src.rglob("*")):
                    dest = tmp / f.relative_to(src)
                    dest.mkdir(exist_ok=True) if f.is_dir() else dest.write_bytes(f.read_bytes())
                promote(tmp, out, DATE)
        return leftovers(out)
    finally:
        shutil.rmtree(src, ignore_errors=True)


def kill_run_loop(out: Path, *, kills: int, seed: int, publish_only: bool) -> dict:
    """``run`` / ``run-publish`` modes: SIGKILL ``nightdesk run`` at random moments; checks after each."""
    rnd = random.Random(seed)
    home = Path(tempfile.mkdtemp(prefix="nd-kill-prefect-"))
    try:
        env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_LOGGING_LEVEL": "ERROR"}
        cmd = [sys.executable, "-m", "nightdesk.cli", "run", "--date", DATE, "--lang", "en", "--output-dir", str(out)]
        t0 = time.perf_counter()
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, start_new_session=True)
        full_s = time.perf_counter() - t0
        if first.returncode != 0 or check_note(out / DATE) is not None:
            raise SystemExit(f"the first, clean run failed: {first.stderr[-2000:]}")
        print(f"  a clean run takes {full_s:.1f} s")
        stats = {"kills": 0, "failures": [], "leftovers_seen": 0, "max_leftovers": 0, "finished_before_kill": 0, "run_s": round(full_s, 1)}
        for _ in range(kills):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            if publish_only:  # wait for the staging folder of this run, then kill somewhere in the render/publish step
                before = set(leftovers(out))
                while proc.poll() is None and not (set(leftovers(out)) - before):
                    time.sleep(0.01)
                time.sleep(rnd.random() * 6.0)
            else:
                time.sleep(rnd.random() * full_s)
            if proc.poll() is not None:
                stats["finished_before_kill"] += 1
            problem, left = _kill_and_check(proc, out, stats)
            print(f"  kill {stats['kills']}: {'ok' if problem is None else problem}; left behind: {len(left)}", flush=True)
        return stats
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("publish", "run", "run-publish"), default="publish")
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="nd-kill-out-"))
    t0 = time.perf_counter()
    try:
        if args.mode == "publish":
            stats = kill_publish_loop(out, kills=args.kills, seed=args.seed)
        else:
            stats = kill_run_loop(out, kills=args.kills, seed=args.seed, publish_only=args.mode == "run-publish")
        left_before = leftovers(out)
        left_after = final_clean_publish(out)
        ok = not stats["failures"] and not left_after and check_note(out / DATE) is None
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"mode {args.mode}: {stats['kills']} kills in {time.perf_counter() - t0:.0f} s; "
          f"output/{DATE} complete and matching its manifest after {stats['kills'] - len(stats['failures'])} of them")
    for problem in stats["failures"][:10]:
        print(f"  FAILED: {problem}")
    print(f"  kills that left .tmp-*/.old-* folders: {stats['leftovers_seen']} (at most {stats['max_leftovers']} at once); "
          f"before the final clean publish: {len(left_before)}; after it: {len(left_after)}")
    if "finished_before_kill" in stats:
        print(f"  runs that had finished before their kill: {stats['finished_before_kill']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
