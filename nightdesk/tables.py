"""The project's own configuration tables: theme baskets, the GICS hierarchy and the readers'
site words (TOML files beside this module, versioned with the code)."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

SITE_LANGS = ("en", "zh-Hant", "zh-Hans")


def load_themes() -> dict[str, dict]:
    """Theme baskets from ``nightdesk/themes.toml``: key -> ``{"en", "zh", "tickers"}``."""
    return tomllib.loads((resources.files("nightdesk") / "themes.toml").read_text(encoding="utf-8"))["themes"]


def load_gics() -> dict[str, str]:
    """GICS sub-industry -> industry group, from ``nightdesk/gics.toml``."""
    groups = tomllib.loads((resources.files("nightdesk") / "gics.toml").read_text(encoding="utf-8"))["industry_groups"]
    return {sub: group for group, subs in groups.items() for sub in subs}


@lru_cache(maxsize=1)
def _site_table() -> dict[str, dict[str, str]]:
    return tomllib.loads((resources.files("nightdesk") / "site.toml").read_text(encoding="utf-8"))["text"]


def site_text(lang: str) -> dict[str, str]:
    """The reader-facing words of the web archive, the subscription pages, the note's navigation
    and the readers' emails (``nightdesk/site.toml``) in ``lang``: key -> text.

    >>> site_text("zh-Hant")["unsubscribe"]
    '取消訂閱'
    """
    if lang not in SITE_LANGS:
        raise KeyError(f"site text: no language {lang!r}; one of {', '.join(SITE_LANGS)}")
    return {key: entry[lang] for key, entry in _site_table().items()}
