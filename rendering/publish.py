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


def archive_entries(output_dir: Path) -> list[dict]:
    """Published dates (newest first) with the headline from each ``facts.json``."""
    out = []
    for folder in sorted((p for p in Path(output_dir).iterdir() if p.is_dir() and DATE_RE.match(p.name)), reverse=True):
        try:
            facts = json.loads((folder / "facts.json").read_text(encoding="utf-8"))
            m = facts["momentum"]
            headline = f"L/S {m['ls_ret_pct']:+.1f}% ({m['ls_z']:+.1f}σ), {m['regime']}"
        except (OSError, ValueError, KeyError):
            headline = "(incomplete)"
        out.append({"date": folder.name, "headline": headline})
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
