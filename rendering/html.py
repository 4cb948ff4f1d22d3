"""Self-contained HTML editions (inline CSS and SVG) from the facts record and composed text."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import jinja2
from markupsafe import Markup

from nightdesk.facts.record import FactsRecord
from nightdesk.narrative.compose import Note
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
    """The house stylesheet; ``screen`` adds the phone rules (left out of print HTML)."""
    files = ["note.css", "screen.css"] if screen else ["note.css"]
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


def render_note_html(facts: FactsRecord, notes: list[Note], charts: dict[str, dict[str, str]], *, pdf: bool = False) -> str:
    """One HTML document holding one or more editions (several = the bilingual edition).

    Parameters
    ----------
    notes : list of Note
        Editions, in page order.
    charts : dict
        lang -> chart name -> SVG text (trusted: produced by :mod:`rendering.charts`).
    """
    safe = {lang: {k: Markup(v) for k, v in c.items()} for lang, c in charts.items()}
    return _env().get_template("note.html.j2").render(facts=facts, notes=notes, charts=safe, css=Markup(css(screen=not pdf)), pdf=pdf)


def render_index(date: str, files: list[dict]) -> str:
    """Index page of one date's outputs."""
    return _env().get_template("index.html.j2").render(date=date, files=files, css=Markup(css()))


def render_archive(dates: list[dict]) -> str:
    """Archive page listing every published date."""
    return _env().get_template("archive.html.j2").render(dates=dates, css=Markup(css()))
