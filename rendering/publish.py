"""Atomic publishing of ``output/<date>/``: build in a temporary sibling folder, then swap it in.

A failed run leaves the previously published folder untouched; readers never see a
half-written note, and a run killed at any moment (``kill -9``) leaves ``output/<date>/`` a
complete note, old or new:

* On Linux the staged folder and the published one are exchanged by one system call,
  ``renameat2(RENAME_EXCHANGE)`` (called through ctypes): there is no moment without
  ``output/<date>/``. The old note, now in the staging folder's place, is then removed.
* Where that call does not exist or the filesystem refuses it (another OS, glibc < 2.28, a
  filesystem without exchange support), the old path is used: the published folder is renamed
  to ``.<date>.old-<pid>`` and the staged one renamed into place. Between those two renames the
  date is absent; if the process dies there, the next run for that date renames the backup back
  before anything else.

Whatever a killed run leaves (``.<date>.tmp-<pid>-*`` staging folders, ``.<date>.old-<pid>``
backups) is removed by the next run that takes the date's lock (:func:`date_lock`): the lock
proves no live run owns them, and a folder whose pid is a live process other than this one is
left alone as well. Other dates' leftovers are removed by any run once their pid is dead.

Published folders and files get ``dir_mode`` / ``file_mode`` (0755 / 0644 by default,
``publish_dir_mode`` / ``publish_file_mode`` in the settings): the staging folder is created
owner-only, and its mode would otherwise survive the swap.
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LEFTOVER_RE = re.compile(r"^\.(?P<date>\d{4}-\d{2}-\d{2})\.(?P<kind>tmp|old)-(?:(?P<pid>\d+)(?=-|$))?")
"""Names of staging folders (``.<date>.tmp-<pid>-<random>``) and backups (``.<date>.old-<pid>``)."""
DIR_MODE, FILE_MODE = 0o755, 0o644
"""Default permissions of published folders and files (readable by a web server or another user)."""
WRITE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "read-only filesystem", errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
                errno.EFBIG: "file too large", errno.EIO: "I/O error"}
"""``OSError`` numbers that mean the output cannot be written (a :class:`PublishError`, not a bug)."""
AT_FDCWD, RENAME_EXCHANGE = -100, 2

LOG = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """Output cannot be written (permissions, disk, lock held, bad folder name)."""


def note_dir(output_dir: Path, date: str) -> Path:
    """``output_dir/<date>``, refusing anything that is not a plain ISO date."""
    if not DATE_RE.match(date):
        raise PublishError(f"refusing output folder name {date!r}: not a YYYY-MM-DD date")
    return Path(output_dir) / date


def write_error(exc: OSError, target: Path, *, existed: bool) -> PublishError | None:
    """The one-line :class:`PublishError` for an ``OSError`` met while writing ``target``'s note, or
    None when the error is not about writing output (it is then a bug to surface as is)."""
    what = WRITE_ERRNOS.get(exc.errno)
    if what is None:
        return None
    kept = "the previous note is unchanged" if existed else "nothing was published"
    return PublishError(f"cannot publish {target}: {what} in {target.parent} ({exc.strerror}); {kept}")


def ensure_writable(output_dir: Path, *, min_free_bytes: int = 0) -> Path:
    """Create ``output_dir`` if needed and prove it is writable (and has ``min_free_bytes`` free),
    before any work is done."""
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=out)
        os.close(fd)  # (left open, every run leaked a descriptor on the output folder)
        os.unlink(probe)
        free = shutil.disk_usage(out).free
    except OSError as exc:
        raise PublishError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    if free < min_free_bytes:
        raise PublishError(f"cannot write to output folder {out}: no space left (only {free / 1e6:.1f} MB free on its "
                           f"filesystem; a run needs {min_free_bytes / 1e6:.0f} MB)")
    return out


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (signal 0: nothing is sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owned_elsewhere(name: str) -> bool:
    """True when a leftover's name carries the pid of a live process other than this one."""
    m = LEFTOVER_RE.match(name)
    pid = int(m["pid"]) if m and m["pid"] else None
    return pid is not None and pid != os.getpid() and pid_alive(pid)


def remove_leftovers(output_dir: Path, date: str) -> list[str]:
    """Recover and remove what killed runs left for ``date``; call it holding the date's lock.

    If ``output/<date>`` is missing but a backup ``.<date>.old-*`` exists (a run of the
    two-rename fallback died between its renames), the newest backup is renamed back first.
    Then every ``.<date>.tmp-*`` and ``.<date>.old-*`` not owned by a live process is removed.

    Returns
    -------
    list of str
        Names removed (or restored).
    """
    out = Path(output_dir)
    mine = [p for p in out.iterdir() if (m := LEFTOVER_RE.match(p.name)) and m["date"] == date and not _owned_elsewhere(p.name)]
    done = []
    target = out / date
    if not os.path.lexists(target):
        backups = sorted((p for p in mine if ".old-" in p.name and p.is_dir()), key=lambda p: p.stat().st_mtime)
        if backups:
            os.rename(backups[-1], target)
            LOG.warning("restored %s from %s, left by a run that was killed while publishing", target, backups[-1].name)
            mine.remove(backups[-1])
            done.append(backups[-1].name)
    for p in mine:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        done.append(p.name)
    if done:
        LOG.info("removed %s, left by killed runs", ", ".join(done))
    return done


def sweep_leftovers(output_dir: Path, *, skip: str | None = None) -> list[str]:
    """Remove other dates' leftovers whose pid is dead (no lock is taken: a backfill worker about
    to publish that date must not find it locked). A backup whose note is missing is kept for
    that date's next run to restore; names without a pid wait for that run too."""
    out = Path(output_dir)
    done = []
    for p in sorted(out.iterdir()):
        m = LEFTOVER_RE.match(p.name)
        if not m or m["date"] == skip or not m["pid"] or int(m["pid"]) == os.getpid() or pid_alive(int(m["pid"])):
            continue
        if m["kind"] == "old" and not os.path.lexists(out / m["date"]):
            continue
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
        done.append(p.name)
    if done:
        LOG.info("removed %s, left by killed runs", ", ".join(done))
    return done


@contextlib.contextmanager
def date_lock(output_dir: Path, date: str, *, wait: bool = False) -> Iterator[None]:
    """Exclusive lock for one date; a second run exits clearly unless ``wait``.

    Holding it, nothing else can own the date's staging folders or backups: what killed runs
    left for this date is recovered and removed (:func:`remove_leftovers`), and other dates'
    leftovers of dead processes too (:func:`sweep_leftovers`).
    """
    note_dir(output_dir, date)
    ensure_writable(output_dir)
    path = Path(output_dir) / f".{date}.lock"
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise PublishError(f"another run is publishing {date} (lock {path}); try again when it finishes") from None
        try:
            try:
                remove_leftovers(output_dir, date)
                sweep_leftovers(output_dir, skip=date)
            except OSError as exc:  # cleaning is best effort; publishing goes on
                LOG.warning("could not remove what killed runs left in %s: %s", output_dir, exc)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def staging(output_dir: Path, date: str) -> Iterator[Path]:
    """A temporary folder beside the target (``.<date>.tmp-<pid>-*``), removed on failure."""
    note_dir(output_dir, date)  # refuse a non-date folder name before creating anything
    try:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{date}.tmp-{os.getpid()}-", dir=output_dir))
    except OSError as exc:
        raise PublishError(f"cannot write to output folder {output_dir}: {exc.strerror}") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def set_modes(folder: Path, *, dir_mode: int = DIR_MODE, file_mode: int = FILE_MODE) -> None:
    """``dir_mode`` on ``folder`` and every folder below it, ``file_mode`` on every file (symlinks untouched)."""
    os.chmod(folder, dir_mode)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):
                os.chmod(os.path.join(root, name), dir_mode)
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                os.chmod(os.path.join(root, name), file_mode)


def manifest(folder: Path, *, version: str, data_as_of: str) -> dict:
    """Files with sha256 and size, generator version, data as-of."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        files.append({"path": path.relative_to(folder).as_posix(), "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    return {"generator": f"nightdesk {version}", "data_as_of": data_as_of, "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "files": files}


def write_json(path: Path, obj: dict) -> None:
    """Write JSON (UTF-8, sorted keys off, 1-space indent)."""
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


NOTE_LANGS = ("en", "zh-Hant", "zh-Hans")
PDF_EDITIONS = ("en", "zh-Hant", "zh-Hans", "bilingual")
_NOTE_KEYS = ("lang", "title", "dateline", "headline")
_STORY_KEYS = ("story", "story_label")


def published_dates(output_dir: Path) -> list[str]:
    """Dates with a published note (a ``<date>/facts.json``), oldest first; staging folders excluded."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if DATE_RE.match(p.name) and (p / "facts.json").is_file())


def neighbours(dates: list[str], date: str) -> tuple[str | None, str | None]:
    """The published dates just before and just after ``date`` (which need not be in ``dates``).

    >>> neighbours(["2026-02-02", "2026-02-04", "2026-02-05"], "2026-02-04")
    ('2026-02-02', '2026-02-05')
    >>> neighbours(["2026-02-02"], "2026-02-04")
    ('2026-02-02', None)
    """
    before = [d for d in dates if d < date]
    after = [d for d in dates if d > date]
    return (before[-1] if before else None, after[0] if after else None)


def edition_files(folder: Path) -> tuple[list[str], list[str]]:
    """(languages with a ``note.<lang>.html``, PDF editions with a ``note.<edition>.pdf``) in ``folder``."""
    folder = Path(folder)
    return ([x for x in NOTE_LANGS if (folder / f"note.{x}.html").is_file()],
            [x for x in PDF_EDITIONS if (folder / f"note.{x}.pdf").is_file()])


def note_file(folder: Path, lang: str) -> str:
    """The file a link to ``folder``'s note in ``lang`` should open: that edition, else the first
    edition there, else the folder's index page."""
    langs, _ = edition_files(folder)
    return f"note.{lang}.html" if lang in langs else (f"note.{langs[0]}.html" if langs else "index.html")


def _valid_note(obj: object, lang: str) -> bool:
    return (isinstance(obj, dict) and obj.get("lang") == lang and all(isinstance(obj.get(k), str) for k in _NOTE_KEYS)
            and all(isinstance(obj.get(k, ""), str) for k in _STORY_KEYS)
            and isinstance(obj.get("takeaways"), list) and all(isinstance(t, str) for t in obj["takeaways"]))


def note_summary(folder: Path, lang: str) -> dict:
    """The day's story and headline in ``lang``: ``lang, story, story_label, title, dateline,
    headline, takeaways`` and ``source``.

    Read from ``note.<lang>.json`` (written by the narrative: ``source`` "note"; a note without a
    ``story`` yet gets the generic label); without a valid one, a plain headline from ``facts.json``
    (L/S momentum return and z-score; ``source`` "facts"); without that either, a placeholder
    (``source`` "missing"). Values are plain text: templates escape them.
    """
    from nightdesk.narrative.formatting import long_date, pct, short_date, sigma
    from nightdesk.tables import site_text

    folder = Path(folder)
    words = site_text(lang)
    try:
        note = json.loads((folder / f"note.{lang}.json").read_text(encoding="utf-8"))
        if _valid_note(note, lang):
            return {**{k: note[k] for k in _NOTE_KEYS}, "story": note.get("story", ""),
                    "story_label": note.get("story_label") or words["story_generic"], "takeaways": list(note["takeaways"]), "source": "note"}
    except (OSError, ValueError):
        pass
    base = {"lang": lang, "story": "", "story_label": words["story_generic"], "takeaways": []}
    try:
        facts = json.loads((folder / "facts.json").read_text(encoding="utf-8"))
        day = dt.date.fromisoformat(str(facts["meta"]["date"]))
        m = facts["momentum"]
        headline = words["fallback_headline"].format(ret_pct=pct(float(m["ls_ret_pct"])), z=sigma(float(m["ls_z"])))
        return {**base, "title": words["fallback_title"].format(date=short_date(day, lang)), "dateline": long_date(day, lang),
                "headline": headline, "source": "facts"}
    except (OSError, ValueError, KeyError, TypeError):
        return {**base, "title": words["fallback_title"].format(date=folder.name), "dateline": folder.name,
                "headline": words["incomplete"], "source": "missing"}


def archive_entries(output_dir: Path, lang: str = "en") -> list[dict]:
    """Published dates (newest first), each :func:`note_summary` in ``lang`` with ``date``, ``langs``
    (HTML editions) and ``pdfs`` (PDF editions)."""
    out = []
    for d in reversed(published_dates(output_dir)):
        langs, pdfs = edition_files(Path(output_dir) / d)
        out.append({**note_summary(Path(output_dir) / d, lang), "date": d, "langs": langs, "pdfs": pdfs})
    return out


def _renameat2():
    """libc's ``renameat2`` through ctypes, or None where it does not exist (not Linux, glibc < 2.28)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (``renameat2(RENAME_EXCHANGE)``).

    Returns
    -------
    bool
        True when swapped; False when this system or filesystem cannot (nothing changed).

    Raises
    ------
    OSError
        Any other failure of the call (nothing changed).
    """
    fn = _renameat2()
    if fn is None:
        return False
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def promote(tmp: Path, output_dir: Path, date: str, *, dir_mode: int = DIR_MODE, file_mode: int = FILE_MODE) -> Path:
    """Swap the staged folder in, with its published permissions; the old note is removed.

    One atomic exchange where the system has it (see the module's docstring); otherwise
    old -> backup, tmp -> target, drop backup (restored on failure, and by the next run if
    this one is killed between the two renames).
    """
    target = note_dir(output_dir, date)
    existed = os.path.lexists(target)
    try:
        set_modes(tmp, dir_mode=dir_mode, file_mode=file_mode)
        if not existed:
            os.rename(tmp, target)
            return target
        if exchange(tmp, target):
            shutil.rmtree(tmp, ignore_errors=True)  # the old note, now in the staging folder's place
            return target
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishError(f"cannot publish {target}: {exc.strerror}") from None
    return _promote_two_renames(tmp, target, date)


def _promote_two_renames(tmp: Path, target: Path, date: str) -> Path:
    """The fallback swap: target -> ``.<date>.old-<pid>``, tmp -> target, drop the backup."""
    backup = target.with_name(f".{date}.old-{os.getpid()}")
    moved = False
    try:
        os.rename(target, backup)
        moved = True
        os.rename(tmp, target)
    except OSError as exc:
        if moved and not os.path.lexists(target):
            os.rename(backup, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishError(f"cannot publish {target}: {exc.strerror}") from None
    shutil.rmtree(backup, ignore_errors=True)
    return target
