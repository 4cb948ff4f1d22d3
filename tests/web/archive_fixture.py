"""Fixture archives: date folders in the published layout, with note.<lang>.json in the shape
the narrative will write (lang, story, story_label, title, dateline, headline, takeaways)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

STORIES = {
    "momentum_crash": {"en": "Momentum crash", "zh-Hant": "動能重挫", "zh-Hans": "动量急跌"},
    "index_rally": {"en": "Index rally", "zh-Hant": "指數大漲", "zh-Hans": "指数大涨"},
    "quiet": {"en": "Quiet session", "zh-Hant": "盤勢平靜", "zh-Hans": "盘势平静"},
}
HEADLINES = {
    "momentum_crash": {"en": "Momentum crashed {ret}: the worst day in five years", "zh-Hant": "動能因子重挫{ret}，五年來最差",
                       "zh-Hans": "动量因子急跌{ret}，五年来最差"},
    "index_rally": {"en": "The S&P 500 rose 1.9% as breadth widened", "zh-Hant": "標普500指數上漲1.9%，市場廣度擴大",
                    "zh-Hans": "标普500指数上涨1.9%，市场宽度扩大"},
    "quiet": {"en": "A quiet session under the surface", "zh-Hant": "盤面下波瀾不興", "zh-Hans": "盘面下波澜不兴"},
}


def note_json(date: str, lang: str, story: str, *, headline: str | None = None, takeaways: list[str] | None = None) -> dict:
    """A ``note.<lang>.json`` in the agreed shape."""
    title = {"en": f"US Equity Strategy | {STORIES[story]['en']}", "zh-Hant": f"美股策略｜{STORIES[story]['zh-Hant']}",
             "zh-Hans": f"美股策略｜{STORIES[story]['zh-Hans']}"}[lang]
    return {"lang": lang, "story": story, "story_label": STORIES[story][lang], "title": title, "dateline": date,
            "headline": headline or HEADLINES[story][lang].format(ret="−7.5%"),
            "takeaways": takeaways or [f"{STORIES[story][lang]} · 1", f"{STORIES[story][lang]} · 2", f"{STORIES[story][lang]} · 3"]}


def write_notes(folder: Path, date: str, story: str | None, **kw) -> None:
    """``note.<lang>.json`` for the three languages (none when ``story`` is None)."""
    for lang in ("en", "zh-Hant", "zh-Hans"):
        if story:
            (folder / f"note.{lang}.json").write_text(json.dumps(note_json(date, lang, story, **kw), ensure_ascii=False), encoding="utf-8")


def small_date(root: Path, date: str, story: str | None, *, ls_ret_pct: float = -1.25, ls_z: float = -0.8,
               langs: tuple[str, ...] = ("en", "zh-Hant", "zh-Hans"), **kw) -> Path:
    """A light date folder: facts.json (the fallback's fields), tiny HTML and PDF editions, manifest."""
    folder = root / date
    folder.mkdir(parents=True)
    (folder / "facts.json").write_text(json.dumps({"meta": {"date": date}, "momentum": {"ls_ret_pct": ls_ret_pct, "ls_z": ls_z}}),
                                       encoding="utf-8")
    for lang in langs:
        (folder / f"note.{lang}.html").write_text(
            f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{date}</title></head>'
            f'<body class="screen"><!--nightdesk:nav--><!--/nightdesk:nav--><article><h1>{date} {lang}</h1></article></body></html>\n',
            encoding="utf-8")
        (folder / f"note.{lang}.pdf").write_bytes(b"%PDF-1.7\n%fixture\n")
    (folder / "note.bilingual.pdf").write_bytes(b"%PDF-1.7\n%fixture\n")
    (folder / "manifest.json").write_text(json.dumps({"created_utc": f"{date}T23:30:00+00:00", "files": []}), encoding="utf-8")
    write_notes(folder, date, story, **kw)
    return folder


def add_story(folder: Path, date: str, story: str, *, headline: bool = True) -> None:
    """Give a really published folder's ``note.<lang>.json`` the story keys (and, with ``headline``,
    the fixture's headline), keeping every other field of the composed note."""
    for lang in ("en", "zh-Hant", "zh-Hans"):
        path = folder / f"note.{lang}.json"
        note = json.loads(path.read_text(encoding="utf-8"))
        fixture = note_json(date, lang, story)
        note.update({k: fixture[k] for k in ("story", "story_label")})
        if headline:
            note["headline"] = fixture["headline"]
        path.write_text(json.dumps(note, ensure_ascii=False), encoding="utf-8")


def copy_date(published: Path, root: Path, date: str, story: str | None, *, headline: bool = True) -> Path:
    """A copy of a really published folder under another date (facts' date patched), its notes
    given ``story`` (none: they keep the narrative's own fields only)."""
    folder = root / date
    shutil.copytree(published, folder, ignore=shutil.ignore_patterns("outbox"))
    facts = json.loads((folder / "facts.json").read_text(encoding="utf-8"))
    facts["meta"]["date"] = date
    (folder / "facts.json").write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    if story:
        add_story(folder, date, story, headline=headline)
    reseal(folder)
    return folder


def reseal(folder: Path) -> None:
    """Bring manifest.json's sizes and sha256 up to date with the edited files (delivery refuses a
    folder whose files differ from its manifest)."""
    import hashlib

    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
