"""The real Prefect flow for 2026-02-04: files, PDF text, Chinese glyphs, self-contained HTML."""
import json
import re

import pytest
from pypdf import PdfReader


def test_outputs_exist(published):
    out, result = published
    folder = out / "2026-02-04"
    names = {p.name for p in folder.iterdir()}
    for lang in ("en", "zh-Hant", "zh-Hans"):
        assert f"note.{lang}.html" in names and f"note.{lang}.pdf" in names
    assert {"facts.json", "manifest.json", "note.bilingual.pdf", "index.html", "charts"} <= names
    manifest = json.loads((folder / "manifest.json").read_text())
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    for pdf in folder.glob("*.pdf"):
        assert pdf.stat().st_size < 1_500_000


def test_pdf_text_has_headline_number_and_chinese(published):
    out, _ = published
    facts = json.loads((out / "2026-02-04" / "facts.json").read_text())
    ls = f"{abs(facts['momentum']['ls_ret_pct']):.1f}%"
    assert ls == "7.5%"  # hand-checked: L/S momentum on 2026-02-04
    en = "".join(p.extract_text() for p in PdfReader(out / "2026-02-04" / "note.en.pdf").pages)
    assert ls in en and "Risk disclaimer" in en
    zh = "".join(p.extract_text() for p in PdfReader(out / "2026-02-04" / "note.zh-Hant.pdf").pages)
    assert "多空動能組合" in zh and ls in zh and "風險揭露與免責聲明" in zh
    hans = "".join(p.extract_text() for p in PdfReader(out / "2026-02-04" / "note.zh-Hans.pdf").pages)
    assert "多空动量组合" in hans and "多头组合" in hans and "风险提示及免责声明" in hans
    assert "个股" in hans and "個股" not in hans  # table headers come from the glossary too


def test_html_self_contained(published):
    out, _ = published
    for html in (out / "2026-02-04").glob("note.*.html"):
        text = html.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), html.name
        assert "<svg" in text


def test_facts_numbers_in_text(published):
    out, _ = published
    facts = json.loads((out / "2026-02-04" / "facts.json").read_text())
    html = (out / "2026-02-04" / "note.en.html").read_text()
    m = facts["momentum"]
    assert f"{abs(m['ls_ret_pct']):.1f}%" in html
    assert f"\u2212{abs(m['ls_z']):.1f}σ" in html
    assert facts["meta"]["simulated"] == ["flows"] and "simulated" in html


def test_letf_table_rows_are_signed_and_add_up(published):
    """AAPL on 2026-02-04: sold through the indices, bought a little directly (single-stock
    funds): the table says which, so via index + direct = the total a reader sees."""
    out, _ = published
    facts = json.loads((out / "2026-02-04" / "facts.json").read_text())
    row = next(r for r in facts["letf"]["top_stocks"] if r["ticker"] == "AAPL")
    assert row["via_index_usd"] < 0 < row["direct_usd"]
    assert row["flow_usd"] == pytest.approx(row["via_index_usd"] + row["direct_usd"])
    html = (out / "2026-02-04" / "note.en.html").read_text()
    assert "<td>AAPL</td><td>\u2212\u2060$544mn</td><td>\u2212\u2060$553mn</td><td>+\u2060$9mn</td>" in html


HOSTILE = "<script>alert(1)</script>"


def test_note_template_escapes_hostile_facts(demo_record):
    """Strings in the facts record reach the page from data files (theme names, tickers, source
    lines): fed markup, the note's HTML and its charts carry it as text, never as elements."""
    from nightdesk.narrative.compose import compose_note
    from nightdesk.rendering.html import render_note_html
    from nightdesk.rendering.note_charts import chart_svgs

    r = demo_record
    theme = r.rotation.out_of[0].model_copy(update={"name_en": HOSTILE, "kind": "theme"})
    stocks = [r.letf.top_stocks[0].model_copy(update={"ticker": "<b>NV</b>"}), *r.letf.top_stocks[1:]]
    hostile = r.model_copy(update={
        "meta": r.meta.model_copy(update={"sources": {**r.meta.sources, "prices": HOSTILE}}),
        "rotation": r.rotation.model_copy(update={"out_of": [theme, *r.rotation.out_of[1:]],
                                                   "themes": [r.rotation.themes[0].model_copy(update={"name_en": HOSTILE}), *r.rotation.themes[1:]]}),
        "letf": r.letf.model_copy(update={"top_stocks": stocks}),
    })
    note = compose_note(hostile, "en")
    assert HOSTILE in note.title + " ".join(note.methods)  # the hostile text did reach the words
    charts = chart_svgs(hostile, ["en"])
    html = render_note_html(hostile, [note], charts)
    assert "<script>" not in html and "<b>NV</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;NV&lt;/b&gt;" in html
    assert "<script>" not in charts["en"]["rotation_groups"] and "&lt;script&gt;" in charts["en"]["rotation_groups"]


def test_url_fetcher_sandbox(tmp_path):
    from weasyprint.urls import URLFetchingError

    from nightdesk.rendering.pdf import SandboxFetcher

    f = SandboxFetcher(tmp_path)
    for url in ("file:///etc/passwd", "http://example.com/x.css"):
        with pytest.raises(URLFetchingError):
            f.fetch(url)


def test_simplified_charts_use_simplified_glossary(published):
    out, _ = published
    svg = (out / "2026-02-04" / "charts" / "momentum_cum.zh-Hans.svg").read_text()
    assert "多空动量组合累计收益" in svg and "動能" not in svg
    assert "多空動能組合累積報酬" in (out / "2026-02-04" / "charts" / "momentum_cum.zh-Hant.svg").read_text()


def test_bilingual_is_both_editions_with_their_bookmarks(published):
    """The bilingual PDF is the English and Traditional editions joined: every page, each with its
    stamped charts, and one bookmark tree per edition pointing at its own pages."""
    import pikepdf

    folder = published[0] / "2026-02-04"
    en, zh, both = (pikepdf.open(folder / f"note.{x}.pdf") for x in ("en", "zh-Hant", "bilingual"))
    assert len(both.pages) == len(en.pages) + len(zh.pages)
    with both.open_outline() as outline:
        tops = list(outline.root)
        assert len(tops) == 2 and tops[0].title.startswith("US Equity Strategy") and tops[1].title.startswith("美股策略")
        pages = [both.pages.index(pikepdf.Page(it.destination[0])) for top in tops for it in top.children]
    zh_risk = [c.title for c in tops[1].children].index("風險揭露與免責聲明")
    assert pages[len(tops[0].children) + zh_risk] == len(both.pages) - 1  # the Chinese disclaimer is on the last page
    assert pages[0] == 0 and min(pages[len(tops[0].children):]) == len(en.pages)
    text = [p.extract_text() for p in PdfReader(folder / "note.bilingual.pdf").pages]
    assert "Risk disclaimer" in text[len(en.pages) - 1] and "風險揭露與免責聲明" in text[-1]
    forms = {x.objgen for p in both.pages for x in p.Resources.get("/XObject", {}).values() if x.get("/Subtype") == "/Form"}
    assert len(forms) == 2 * sum(1 for _ in (folder / "charts").glob("*.en.svg"))  # every chart of both editions stamped
