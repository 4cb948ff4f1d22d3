"""Self-contained HTML editions (inline CSS and SVG) from the facts record and composed text."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import jinja2
from markupsafe import Markup

from nightdesk.facts.record import FactsRecord
from nightdesk.narrative.compose import Note
from nightdesk.rendering.note_charts import story_chart
from nightdesk.narrative.formatting import usd


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """The note's Jinja2 environment, made once: a new one would compile each template again
    (about 20 ms a render, six renders a date)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nightdesk.templates", ""),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["usd"] = usd
    env.filters["svg_height_pct"] = svg_height_pct
    env.globals.update(slot_id=slot_id, slot_end=SLOT_END)
    return env


def css(*, screen: bool = True) -> str:
    """The house stylesheet; ``screen`` adds the phone rules and the navigation bar's (left out of print HTML)."""
    files = ["note.css", "screen.css", "nav.css"] if screen else ["note.css"]
    return "\n".join((resources.files("nightdesk.templates") / f).read_text(encoding="utf-8") for f in files)


SLOT_END = "--end"
"""Suffix of the zero-size marker at a chart slot's bottom-right corner (its anchor gives the size)."""


def slot_id(lang: str, name: str) -> str:
    """HTML id of the empty box a chart is stamped into in the PDF (unique across a bilingual document)."""
    return f"chart-{lang}-{name}"


def svg_height_pct(svg: str) -> float:
    """Height of an SVG as a percentage of its width (from its ``width``/``height`` attributes)."""
    head = svg[: svg.index(">")]
    w, h = (float(re.search(rf'\b{a}="([0-9.]+)', head).group(1)) for a in ("width", "height"))
    return 100.0 * h / w


def render_note_html(facts: FactsRecord, notes: list[Note], charts: dict[str, dict[str, str]], *, pdf: bool = False,
                     nav: dict | None = None) -> str:
    """One HTML document holding one or more editions (several = the bilingual edition).

    Parameters
    ----------
    notes : list of Note
        Editions, in page order.
    charts : dict
        lang -> chart name -> SVG text (trusted: produced by :mod:`rendering.charts`).
    nav : dict, optional
        :func:`nav_context`: the links to the archive, the other editions and the neighbouring
        sessions (screen HTML only; the note's content is the same with or without it).
    """
    safe = {lang: {k: Markup(v) for k, v in c.items()} for lang, c in charts.items()}
    return _env().get_template("note.html.j2").render(facts=facts, notes=notes, charts=safe, css=Markup(css(screen=not pdf)), pdf=pdf,
                                                      story_chart=story_chart(facts), nav=nav)


NAV_START, NAV_END = "<!--nightdesk:nav-->", "<!--/nightdesk:nav-->"
"""Comments around the navigation in a note's HTML: the web service swaps in current links."""


def nav_context(date: str, lang: str, *, langs: list[str], pdf_editions: list[str], prev: tuple[str, str] | None,
                next_: tuple[str, str] | None) -> dict:
    """What ``nav.html.j2`` needs for the note of ``date`` in ``lang``; every link is relative to
    the note's folder, so it works from the files and from the web service alike.

    ``prev`` / ``next_`` are ``(date, note file name)`` of the neighbouring published sessions.
    """
    from nightdesk.tables import site_text

    words = site_text(lang)
    return {
        "start": Markup(NAV_START), "end": Markup(NAV_END), "lang": lang,
        "archive": {"href": f"../index.html?lang={lang}", "label": words["archive"]},
        "day": {"href": f"index.html?lang={lang}", "label": words["this_session"]},
        "languages": [{"lang": x, "label": words[f"lang_name_{x}"], "href": f"note.{x}.html", "current": x == lang} for x in langs],
        "pdfs": [{"label": words["pdf_bilingual"] if x == "bilingual" else f"{words['pdf']} · {words[f'lang_name_{x}']}",
                  "href": f"note.{x}.pdf"} for x in pdf_editions],
        "prev": {"href": f"../{prev[0]}/{prev[1]}", "label": words["prev_session"], "date": prev[0]} if prev else None,
        "next": {"href": f"../{next_[0]}/{next_[1]}", "label": words["next_session"], "date": next_[0]} if next_ else None,
    }


def nav_css() -> str:
    """The navigation bar's stylesheet alone (``nav.css``; part of :func:`css` for the screen)."""
    return (resources.files("nightdesk.templates") / "nav.css").read_text(encoding="utf-8")


def render_nav(nav: dict) -> str:
    """The navigation bar alone (``nav.html.j2``), with its marker comments."""
    return _env().get_template("nav.html.j2").render(nav=nav)


def render_index(date: str, files: list[dict]) -> str:
    """Index page of one date's outputs."""
    return _env().get_template("index.html.j2").render(date=date, files=files, css=Markup(css()))


def render_archive(dates: list[dict]) -> str:
    """Archive page listing every published date (:func:`rendering.publish.archive_entries`)."""
    return _env().get_template("archive.html.j2").render(dates=dates, css=Markup(css()))
