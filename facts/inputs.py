"""What a published note was built from: data, code and settings, as one key.

A backfill skips a date whose published ``facts.json`` carries the same key, so the key must
change whenever the note could: any data input (:func:`~nightdesk.marketdata.registry.data_fingerprint`),
any file of the code, templates, glossary and tables that shape a note (:func:`code_fingerprint`),
and any setting except those that only say where files go or how delivery and scheduling run.
"""
from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path

from nightdesk.marketdata.base import MarketData
from nightdesk.marketdata.registry import data_fingerprint
from nightdesk.settings import Settings

NOTE_PACKAGES = ("nightdesk", "nightdesk.analytics", "nightdesk.facts", "nightdesk.marketdata", "nightdesk.narrative",
                 "nightdesk.rendering", "nightdesk.templates")
"""Packages whose files shape a note (not the CLI, flows, delivery or web service)."""
CODE_SUFFIXES = (".py", ".j2", ".css", ".toml", ".json")
SETTINGS_NOT_IN_NOTE = {"output_dir", "cache_dir", "delivery", "fetch_retry_delays_s", "late_data_window_s", "late_data_poll_s", "store", "refresh", "web"}
"""Settings that do not change what a note says (where files go, delivery, the web service, scheduling)."""


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 (16 hex digits) over the source, template, glossary and table files of
    :data:`NOTE_PACKAGES`, by relative path and content; data files (the bundled sample) are
    left to the data fingerprint. Read once per process."""
    h = hashlib.sha256()
    for pkg in NOTE_PACKAGES:
        root = Path(str(resources.files(pkg)))
        files = [p for p in root.rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts]
        if pkg == "nightdesk.marketdata":
            files = [p for p in files if "sample" not in p.relative_to(root).parts]
        for path in sorted(files):
            h.update(f"{pkg}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def settings_fingerprint(settings: Settings) -> str:
    """Hash of every setting that can change a note."""
    text = settings.model_dump_json(exclude=SETTINGS_NOT_IN_NOTE)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def inputs_key(md: MarketData, settings: Settings, langs: list[str]) -> str:
    """``<data>|<code>|<settings and editions>`` for the note of ``md.date``."""
    return f"{data_fingerprint(md)}|{code_fingerprint()}|{settings_fingerprint(settings)}-{','.join(langs)}"
