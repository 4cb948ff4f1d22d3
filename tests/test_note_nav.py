"""The note's navigation bar: written at publish time with the sessions published so far, screen
HTML only, and the note's content unchanged by it."""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "web"))
from archive_fixture import small_date  # noqa: E402


def test_published_note_links_resolve_to_files(published):
    from nightdesk.rendering.outputs import write_archive

    out, _ = published
    folder = out / "2026-02-04"
    archive = write_archive(out).read_text(encoding="utf-8")  # as the flows do after publishing
    assert 'href="2026-02-04/note.zh-Hans.html"' in archive and "L/S momentum fell 7.5%" in archive  # the note's own headline
    for lang in ("en", "zh-Hant", "zh-Hans"):
        html = (folder / f"note.{lang}.html").read_text(encoding="utf-8")
        nav = html[html.index("<!--nightdesk:nav-->"): html.index("<!--/nightdesk:nav-->")]
        links = re.findall(r'href="([^"]+)"', nav)
        assert {"note.en.pdf", "note.bilingual.pdf", f"../index.html?lang={lang}", f"index.html?lang={lang}"} <= set(links)
        assert {f"note.{x}.html" for x in ("en", "zh-Hant", "zh-Hans") if x != lang} <= set(links)
        for href in links:  # opened from the files themselves, every link finds its file
            assert (folder / href.split("?")[0]).resolve().is_file(), href


def test_navigation_leaves_the_content_alone_and_stays_out_of_the_pdf(published, demo_record):
    from nightdesk.narrative.compose import compose_notes
    from nightdesk.rendering.html import NAV_END, NAV_START, render_note_html
    from nightdesk.rendering.outputs import note_navs

    out, _ = published
    facts = demo_record
    note = compose_notes(facts, ["zh-Hant"])["zh-Hant"]
    nav = note_navs(out, "2026-02-04", ["en", "zh-Hant"])["zh-Hant"]
    plain = render_note_html(facts, [note], {"zh-Hant": {}})
    with_nav = render_note_html(facts, [note], {"zh-Hant": {}}, nav=nav)
    start, end = with_nav.index(NAV_START), with_nav.index(NAV_END) + len(NAV_END)
    assert with_nav[:start] + with_nav[end:] == plain  # the bar is all that differs
    assert "nd-nav" not in render_note_html(facts, [note], {"zh-Hant": {}}, pdf=True, nav=nav)
    assert "歷史報告" in with_nav and "上一個交易日" not in with_nav  # nothing published before 2026-02-04 there


def test_publish_time_neighbours(tmp_path):
    from nightdesk.rendering.outputs import note_navs

    small_date(tmp_path, "2026-02-02", "quiet", langs=("en",))
    small_date(tmp_path, "2026-02-06", "quiet")
    (tmp_path / ".2026-02-05.tmp-x").mkdir()  # another worker's staging folder is not a session
    navs = note_navs(tmp_path, "2026-02-04", ["en", "zh-Hans"])
    assert navs["zh-Hans"]["prev"]["href"] == "../2026-02-02/note.en.html"  # no 简体 edition that day: its English one
    assert navs["zh-Hans"]["next"]["href"] == "../2026-02-06/note.zh-Hans.html"
    assert [x["href"] for x in navs["en"]["pdfs"]] == ["note.en.pdf", "note.zh-Hans.pdf", "note.bilingual.pdf"]
    assert [x["lang"] for x in navs["en"]["languages"]] == ["en", "zh-Hans"]
    alone = note_navs(tmp_path, "2026-02-04", ["en"])["en"]
    assert [x["href"] for x in alone["pdfs"]] == ["note.en.pdf"]
