"""Publishing under faults (issue #24, points 10-12; #21 item 5): kill -9 at any step, leftovers
cleaned, a full disk, the user's own index.html, folders another user can read."""
from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nightdesk.rendering.outputs import ARCHIVE_MARKER, write_archive
from nightdesk.rendering.publish import PublishError, date_lock, promote, staging

ROOT = Path(__file__).resolve().parents[1]
DATE = "2026-02-04"


def _bench():
    """benchmarks/kill_publish.py as a module (its helpers: a small note, the manifest check)."""
    spec = importlib.util.spec_from_file_location("kill_publish", ROOT / "benchmarks" / "kill_publish.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = _bench()

# A child that publishes note v2 over v1 and SIGKILLs itself just before its N-th filesystem step
# (a rename, an exchange through ctypes, a removal, a folder created, a file opened for writing,
# a chmod): sys.addaudithook sees each of them before it happens.
KILL_AT_STEP = r"""
import os, signal, sys
from pathlib import Path
from nightdesk.rendering.publish import date_lock, promote, staging
out, date, src, n = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
files = [(f.relative_to(src), f.read_bytes()) for f in sorted(src.rglob("*")) if f.is_file()]
STEPS = {"os.rename", "os.replace", "ctypes.call_function", "shutil.rmtree", "os.remove", "os.rmdir", "os.mkdir", "os.chmod"}
count = 0
def hook(event, args):
    global count
    writing = event == "open" and isinstance(args[1], str) and any(c in args[1] for c in "wax+")
    if event in STEPS or writing:
        count += 1
        if count == n:
            os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
with date_lock(out, date):
    with staging(out, date) as tmp:
        for rel, data in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(data)
        promote(tmp, out, date)
print(count)
"""


def _publish(out: Path, src: Path) -> None:
    with date_lock(out, DATE):
        with staging(out, DATE) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
            promote(tmp, out, DATE)


@pytest.mark.slow  # child processes
def test_kill_at_every_step_of_publishing_leaves_a_complete_note(tmp_path):
    """SIGKILL before each filesystem step of a republish, in turn: after every kill,
    output/<date>/ is the old note or the new one, complete and matching its manifest; the
    next run removes what the killed ones left. (The two-rename swap left the date missing when
    killed between its renames.)"""
    out, v1, v2 = tmp_path / "out", bench.make_note(tmp_path / "v1", "v1", pdf_kb=20), bench.make_note(tmp_path / "v2", "v2", pdf_kb=20)
    _publish(out, v1)
    seen, n = set(), 0
    while True:
        n += 1
        child = subprocess.run([sys.executable, "-c", KILL_AT_STEP, str(out), DATE, str(v2), str(n)], capture_output=True, text=True,
                               timeout=60)
        assert child.returncode in (0, -9), child.stderr[-2000:]
        problem = bench.check_note(out / DATE)
        assert problem is None, f"killed before step {n}: {problem}"
        seen.add((out / DATE / "note.en.html").read_text())
        if child.returncode == 0:  # ran to the end: every step has had its kill
            break
        _publish(out, v1)  # back to the old note (and clean up) for the next kill point
    assert n > 10 and len(seen) == 2
    _publish(out, v2)
    assert bench.leftovers(out) == [] and bench.check_note(out / DATE) is None


@pytest.mark.slow  # child processes
def test_random_kills_of_a_publishing_loop(tmp_path):
    """The benchmark's loop, short: 6 SIGKILLs at random moments, then one clean publish."""
    stats = bench.kill_publish_loop(tmp_path / "out", kills=6, seed=7)
    assert stats["kills"] == 6 and stats["failures"] == []
    assert bench.final_clean_publish(tmp_path / "out") == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_killed_runs_are_removed_but_not_a_live_runs(tmp_path):
    out = tmp_path / "out"
    _publish(out, bench.make_note(tmp_path / "v1", "v1"))
    bench.make_note(out / "2026-02-03", "other date")
    dead, live = _dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for name in (f".{DATE}.tmp-{dead}-abc123", f".{DATE}.old-{dead}", f".{DATE}.tmp-x7k2q9",  # this date: all but a live run's
                     f".2026-02-03.old-{dead}", f".2026-02-03.tmp-{dead}-q1",  # another date, dead pid: removed
                     f".2026-02-05.old-{dead}",  # another date whose note is missing: kept for its own next run to restore
                     f".{DATE}.tmp-{live.pid}-zzz"):
            bench.make_note(out / name, name, pdf_kb=500)
        _publish(out, bench.make_note(tmp_path / "v2", "v2"))
        assert bench.leftovers(out) == [f".{DATE}.tmp-{live.pid}-zzz", f".2026-02-05.old-{dead}"]
    finally:
        live.kill()
        live.wait()
    _publish(out, bench.make_note(tmp_path / "v3", "v3"))
    assert bench.leftovers(out) == [f".2026-02-05.old-{dead}"]
    with date_lock(out, "2026-02-05"):
        assert bench.check_note(out / "2026-02-05") is None
    assert bench.leftovers(out) == []


def test_a_backup_left_between_two_renames_is_restored(tmp_path):
    """Where the exchange is not available, the swap is two renames; a run killed between them
    leaves no output/<date> but a backup: the next run for the date restores it first."""
    out = tmp_path / "out"
    _publish(out, bench.make_note(tmp_path / "v1", "v1"))
    backup = out / f".{DATE}.old-{_dead_pid()}"
    os.rename(out / DATE, backup)
    with date_lock(out, DATE):
        assert bench.check_note(out / DATE) is None and "v1" in (out / DATE / "note.en.html").read_text()
    assert not backup.exists()


def test_two_rename_fallback_publishes(tmp_path, monkeypatch):
    from nightdesk.rendering import publish

    monkeypatch.setattr(publish, "exchange", lambda a, b: False)  # as on a system without renameat2
    out = tmp_path / "out"
    _publish(out, bench.make_note(tmp_path / "v1", "v1"))
    _publish(out, bench.make_note(tmp_path / "v2", "v2"))
    assert "v2" in (out / DATE / "note.en.html").read_text() and bench.leftovers(out) == []


# --- #21 item 5: published folders 0755, files 0644, readable by another user ---------------------

@pytest.fixture()
def world_readable_tmp():
    """A folder under /tmp that another user can traverse (pytest's tmp_path is owner-only)."""
    folder = Path(tempfile.mkdtemp(prefix="nd-modes-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_published_note_is_readable_by_another_user(world_readable_tmp, tmp_path):
    out = world_readable_tmp / "out"
    old_umask = os.umask(0o077)  # a cron job's umask must not decide who can read the note
    try:
        _publish(out, bench.make_note(tmp_path / "v1", "v1"))
        write_archive(out)
    finally:
        os.umask(old_umask)
    assert (out / DATE).stat().st_mode & 0o777 == 0o755
    assert (out / DATE / "charts").stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in (out / DATE).rglob("*") if p.is_file()} == {0o644}
    assert (out / "index.html").stat().st_mode & 0o777 == 0o644
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("runuser as nobody needs root")
    out.chmod(0o755)
    read = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(out / DATE / "note.en.html")], capture_output=True, text=True)
    assert read.returncode == 0 and "note v1" in read.stdout, read.stderr


def test_modes_are_configurable(tmp_path):
    from nightdesk.settings import Settings

    s = Settings(publish_dir_mode="750", publish_file_mode=0o640)
    with staging(tmp_path, DATE) as tmp:
        (tmp / "a.txt").write_text("x")
        promote(tmp, tmp_path, DATE, dir_mode=s.publish_dir_mode, file_mode=s.publish_file_mode)
    assert (tmp_path / DATE).stat().st_mode & 0o777 == 0o750 and (tmp_path / DATE / "a.txt").stat().st_mode & 0o777 == 0o640


# --- 12: the user's own index.html -------------------------------------------------------------

def test_users_own_index_html_is_left_alone(tmp_path, caplog):
    import logging

    (tmp_path / "index.html").write_text("<html><body>my own landing page</body></html>")
    with caplog.at_level(logging.WARNING, logger="nightdesk.rendering.outputs"):
        assert write_archive(tmp_path) is None
    assert (tmp_path / "index.html").read_text() == "<html><body>my own landing page</body></html>"
    assert len(caplog.records) == 1 and "not an archive page nightdesk wrote" in caplog.records[0].getMessage()


def test_archive_page_nightdesk_wrote_is_rewritten(tmp_path):
    bench.make_note(tmp_path / DATE, "v1")
    assert write_archive(tmp_path) == tmp_path / "index.html"
    first = (tmp_path / "index.html").read_text()
    assert ARCHIVE_MARKER in first
    bench.make_note(tmp_path / "2026-02-05", "v2")
    write_archive(tmp_path)
    assert "2026-02-05" in (tmp_path / "index.html").read_text()
    # a page written before the marker existed is recognised by its title
    (tmp_path / "index.html").write_text(first.replace(ARCHIVE_MARKER, ""))
    assert write_archive(tmp_path) is not None and ARCHIVE_MARKER in (tmp_path / "index.html").read_text()


# --- 11: disk full during a rerun (a real ENOSPC on a small tmpfs) ---------------------------------

@pytest.fixture()
def small_fs():
    """A 6 MB tmpfs (needs root, or CAP_SYS_ADMIN); skipped where it cannot be mounted."""
    folder = Path(tempfile.mkdtemp(prefix="nd-small-fs-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(folder)], capture_output=True).returncode == 0
    if not mounted:
        folder.rmdir()
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
        folder.rmdir()


def _fill(folder: Path, leave_bytes: int = 0) -> None:
    """Fill ``folder``'s filesystem to the last ``leave_bytes``."""
    with open(folder / "filler", "wb") as fh:
        try:
            while shutil.disk_usage(folder).free > leave_bytes:
                fh.write(b"\0" * min(65536, max(4096, shutil.disk_usage(folder).free - leave_bytes)))
                fh.flush()
        except OSError:
            pass


@pytest.fixture(scope="module")
def facts_2026_02_04():
    from nightdesk import facts
    from nightdesk.marketdata.registry import get_provider, load_market_data
    from nightdesk.narrative.compose import compose_notes
    from nightdesk.settings import Settings

    md = load_market_data(get_provider("sample"), dt.date(2026, 2, 4), history_days=700)
    record = facts.compute(md, Settings(history_days=700, langs=["en"]))
    return record, compose_notes(record, ["en"])


@pytest.mark.slow  # renders a note on a mounted tmpfs
def test_disk_full_during_a_rerun_is_one_line_and_keeps_the_note(small_fs, facts_2026_02_04, chart_fonts):
    from nightdesk.rendering.outputs import publish_note

    out = small_fs / "output"
    publish_note(*facts_2026_02_04, out, version="test", fontconfig=chart_fonts)
    assert bench.check_note(out / DATE) is None
    before = sorted(p.name for p in (out / DATE).rglob("*"))
    _fill(small_fs, leave_bytes=64 * 1024)
    with pytest.raises(PublishError) as exc:
        publish_note(*facts_2026_02_04, out, version="test", fontconfig=chart_fonts)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"cannot publish {out / DATE}: no space left on the device in {out}")
    assert msg.endswith("the previous note is unchanged")
    assert bench.check_note(out / DATE) is None and sorted(p.name for p in (out / DATE).rglob("*")) == before
    assert bench.leftovers(out) == []  # the staging folder is gone (its space is free again)


def test_full_output_filesystem_is_refused_before_the_run(small_fs):
    from typer.testing import CliRunner

    from nightdesk.cli import app

    _fill(small_fs, leave_bytes=1024 * 1024)
    res = CliRunner().invoke(app, ["run", "--date", DATE, "--output-dir", str(small_fs / "output")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"error: cannot write to output folder {small_fs / 'output'}: no space left")


def test_archive_page_on_a_full_disk_is_one_line(small_fs):
    out = small_fs / "output"
    bench.make_note(out / DATE, "v1", pdf_kb=10)
    _fill(small_fs, leave_bytes=0)
    with pytest.raises(PublishError, match=r"cannot update the archive page .*index\.html: no space left on the device; "
                                           "the notes are published"):
        write_archive(out)
    assert not list(out.glob(".index.html.*"))
