"""Atomic publishing of ``output/<date>/``: build in a temporary sibling folder, then rename.

A failed run leaves the previously published folder untouched; readers never see a
half-written note. A per-date lock stops two runs for the same date at once.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PublishError(RuntimeError):
    """Output cannot be written (permissions, disk, lock held, bad folder name)."""


def note_dir(output_dir: Path, date: str) -> Path:
    """``output_dir/<date>``, refusing anything that is not a plain ISO date."""
    if not DATE_RE.match(date):
        raise PublishError(f"refusing output folder name {date!r}: not a YYYY-MM-DD date")
    return Path(output_dir) / date


def ensure_writable(output_dir: Path) -> Path:
    """Create ``output_dir`` if needed and prove it is writable, before any work is done."""
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkstemp(prefix=".probe-", dir=out)[1])
        probe.unlink()
    except OSError as exc:
        raise PublishError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    return out


@contextlib.contextmanager
def date_lock(output_dir: Path, date: str, *, wait: bool = False) -> Iterator[None]:
    """Exclusive lock for one date; a second run exits clearly unless ``wait``."""
    ensure_writable(output_dir)
    path = Path(output_dir) / f".{date}.lock"
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise PublishError(f"another run is publishing {date} (lock {path}); try again when it finishes") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def staging(output_dir: Path, date: str) -> Iterator[Path]:
    """A temporary folder beside the target, removed on failure."""
    note_dir(output_dir, date)  # refuse a non-date folder name before creating anything
    try:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{date}.tmp-", dir=output_dir))
    except OSError as exc:
        raise PublishError(f"cannot write to output folder {output_dir}: {exc.strerror}") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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


def promote(tmp: Path, output_dir: Path, date: str) -> Path:
    """Swap the staged folder in: old -> backup, tmp -> target, drop backup.

    Both renames are atomic on one filesystem; between them the date is briefly absent,
    never half-written. On failure the previous folder is restored.
    """
    target = note_dir(output_dir, date)
    backup = None
    try:
        if target.exists():
            backup = target.with_name(f".{date}.old-{os.getpid()}")
            os.rename(target, backup)
        os.rename(tmp, target)
    except OSError as exc:
        if backup is not None and not target.exists():
            os.rename(backup, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishError(f"cannot publish {target}: {exc.strerror}") from None
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return target
