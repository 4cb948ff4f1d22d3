"""The reader's language: their choice (path, query, cookie) or their browser's ``Accept-Language``."""
from __future__ import annotations

from nightdesk.tables import SITE_LANGS, site_text

LANGS = SITE_LANGS
DEFAULT_LANG = "en"
_HANT = ("hant", "tw", "hk", "mo")
_HANS = ("hans", "cn", "sg", "my")


def tag_to_lang(tag: str) -> str | None:
    """The site language serving a BCP 47 tag, or None.

    Chinese without a script or region gets 繁體, the note's default Chinese edition.

    >>> [tag_to_lang(t) for t in ("en-GB", "zh-TW", "zh-HK", "zh-CN", "zh-Hans-SG", "zh", "fr", "*")]
    ['en', 'zh-Hant', 'zh-Hant', 'zh-Hans', 'zh-Hans', 'zh-Hant', None, None]
    """
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    rest = parts[1:]
    if any(p in _HANS for p in rest) and "hant" not in rest:
        return "zh-Hans"
    return "zh-Hant"


def from_accept_language(header: str | None) -> str | None:
    """The best site language for an ``Accept-Language`` header (by q-value, then order), or None.

    >>> from_accept_language("fr-CH, fr;q=0.9, zh-CN;q=0.8, en;q=0.7")
    'zh-Hans'
    >>> from_accept_language("en;q=0, zh-TW;q=0.5") , from_accept_language("de") , from_accept_language("zh;q=abc")
    ('zh-Hant', None, 'zh-Hant')
    """
    if not header:
        return None
    ranked = []
    for i, item in enumerate(header.split(",")[:32]):  # a header is short; a hostile one is cut
        tag, _, params = item.partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 1.0
        lang = tag_to_lang(tag)
        if lang and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def choose_lang(*, query: str | None = None, cookie: str | None = None, accept: str | None = None,
                preferred: str | None = None) -> str:
    """Query ``lang`` > cookie > ``preferred`` (e.g. the subscriber's edition) > Accept-Language > English."""
    for candidate in (query, cookie, preferred):
        if candidate in LANGS:
            return candidate
    return from_accept_language(accept) or DEFAULT_LANG


def words(lang: str) -> dict[str, str]:
    """The site's words in ``lang``."""
    return site_text(lang)
