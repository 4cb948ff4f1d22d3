"""The published note as delivery reads it: every file checked against ``manifest.json``.

Nothing is emailed from a folder whose files differ from what was published: a truncated
PDF or ``facts.json`` (a disk that filled up, a copy cut short, a hand edit) is one error line
naming the file, before any message goes out.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class PublishedNoteError(ValueError):
    """The published note cannot be delivered; one line naming the folder or file."""


@dataclass(frozen=True)
class PublishedNote:
    """Verified bytes of a published note's files, per edition (edition -> file name -> bytes).

    ``missing`` names the editions that were not published (edition -> one-line reason).
    """

    folder: Path
    files: dict[str, dict[str, bytes]]
    missing: dict[str, str] = field(default_factory=dict)


def _manifest_index(folder: Path, rerun: str) -> dict[str, dict]:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_bytes())
        return {f["path"]: f for f in manifest["files"]}
    except FileNotFoundError:
        raise PublishedNoteError(f"{path} is missing: the published note is incomplete; {rerun}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PublishedNoteError(f"{path} is unreadable ({exc.__class__.__name__}); {rerun}") from None


def _verified(folder: Path, name: str, index: Mapping[str, dict], rerun: str) -> bytes:
    """The file's bytes, if their size and sha256 are what the manifest lists."""
    path = folder / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PublishedNoteError(f"{path} is listed in manifest.json but missing; {rerun}") from None
    except OSError as exc:
        raise PublishedNoteError(f"{path}: {exc.strerror}") from None
    entry = index.get(name)
    if entry is None:
        raise PublishedNoteError(f"{path} is not listed in manifest.json (not what was published); {rerun}")
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != entry.get("bytes") or digest != entry.get("sha256"):
        raise PublishedNoteError(f"{path} does not match manifest.json ({len(data):,} bytes, sha256 {digest[:12]}; published: "
                                 f"{entry.get('bytes', 0):,} bytes, sha256 {str(entry.get('sha256'))[:12]}): "
                                 f"the file is damaged or changed; nothing was sent; {rerun}")
    return data


def read_published(folder: Path, note_date: str, editions: Mapping[str, tuple[str, ...]]) -> PublishedNote:
    """Read and verify ``facts.json`` and each edition's files (e.g. ``note.en.pdf``, ``note.en.json``).

    An edition with a file that was not published (absent from both the folder and the
    manifest) is reported in ``missing``; any other difference from the manifest raises
    :class:`PublishedNoteError` (nothing is to be sent from this folder).
    """
    rerun = f"re-run `nightdesk run --date {note_date}`"
    folder = Path(folder)
    if not (folder / "facts.json").is_file():
        raise PublishedNoteError(f"no published note for {note_date} in {folder}: run `nightdesk run --date {note_date}` first")
    folder = folder.resolve()  # one published version, even if the name is swapped to a new one meanwhile
    index = _manifest_index(folder, rerun)
    _verified(folder, "facts.json", index, rerun)
    files, missing = {}, {}
    for edition, names in editions.items():
        absent = [n for n in names if n not in index and not (folder / n).exists()]
        if absent:
            missing[edition] = (f"the {edition} edition ({', '.join(absent)}) is not published for {note_date}; "
                                f"render it with `nightdesk run --date {note_date} --lang all`")
        else:
            files[edition] = {n: _verified(folder, n, index, rerun) for n in names}
    return PublishedNote(folder=folder, files=files, missing=missing)


def verify_published(folder: Path, note_date: str) -> int:
    """Check ``facts.json`` and every file ``manifest.json`` lists (size and sha256); returns
    how many were checked. The CLI's check before Prefect starts: no subscriber database or
    edition names needed, so a damaged note is one line within a second."""
    rerun = f"re-run `nightdesk run --date {note_date}`"
    folder = Path(folder)
    if not (folder / "facts.json").is_file():
        raise PublishedNoteError(f"no published note for {note_date} in {folder}: run `nightdesk run --date {note_date}` first")
    folder = folder.resolve()
    index = _manifest_index(folder, rerun)
    _verified(folder, "facts.json", index, rerun)
    for name in index:
        _verified(folder, name, index, rerun)
    return len(index)
