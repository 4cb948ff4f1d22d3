"""Jinja2 templates (HTML/CSS for the note and email; narrative text macros)."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

SITE_LANGS = ("en", "zh-Hant", "zh-Hans")


@lru_cache(maxsize=1)
def _site_table() -> dict[str, dict[str, str]]:
    return tomllib.loads((resources.files(__name__) / "site.toml").read_text(encoding="utf-8"))["text"]


def site_text(lang: str) -> dict[str, str]:
    """The reader-facing words (``site.toml``) in ``lang`` (en, zh-Hant, zh-Hans): key -> text.

    >>> site_text("zh-Hant")["unsubscribe"]
    '取消訂閱'
    """
    if lang not in SITE_LANGS:
        raise KeyError(f"site text: no language {lang!r}; one of {', '.join(SITE_LANGS)}")
    return {key: entry[lang] for key, entry in _site_table().items()}
