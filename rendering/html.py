"""Self-contained HTML editions (inline CSS and SVG) from the facts record and composed text."""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources

import jinja2
from markupsafe import Markup

from nightdesk.facts.record import FactsRecord, ThemeRow
from nightdesk.narrative.compose import Note, glossary, localise, term
from nightdesk.narrative.formatting import usd
from nightdesk.rendering import charts as ch


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


def chart_specs(facts: FactsRecord, lang: str) -> dict[str, tuple[Callable, tuple]]:
    """Every chart of the note for ``lang``: name -> (chart function, its arguments), in page order."""
    lab = {k: term(k, lang, "chart_labels") for k in glossary()["chart_labels"]}
    m, r, l, fl = facts.momentum, facts.rotation, facts.letf, facts.flows
    ms = m.series
    out: dict[str, tuple[Callable, tuple]] = {}
    out["momentum_cum"] = (ch.ls_cumulative, (ms.ls_cum_dates, ms.ls_cum_pct, lab))
    out["momentum_dist"] = (ch.ls_distribution, (ms.ls_hist_edges_pct, ms.ls_hist_counts, m.ls_ret_pct, lab["dist"].format(y=m.history.panel.since_year), lab))
    if ms.fwd_path_med_pct:
        out["momentum_fwd"] = (ch.forward_paths, (ms.fwd_path_q25_pct, ms.fwd_path_med_pct, ms.fwd_path_q75_pct, lab))
    secs = [g for g in r.sectors if g.sufficient]
    out["rotation_heatmap"] = (ch.sector_heatmap, ([term(g.key, lang, "sectors") for g in secs],
                                                   [[g.ret_1d_pct, g.ret_5d_pct, g.ret_20d_pct] for g in secs], lab["heat_cols"], lab["heat"]))
    out["rotation_breadth"] = (ch.breadth_history, (r.series.breadth_dates, r.series.breadth_pct, lab["breadth"]))
    groups = [g for g in [*r.sectors, *r.themes] if g.sufficient]
    names = [localise(g.name_en if lang == "en" else g.name_zh, lang) if isinstance(g, ThemeRow) else term(g.key, lang, "sectors") for g in groups]
    out["rotation_groups"] = (ch.group_bars, (names, [g.z for g in groups], lab["themes"]))
    top = l.by_underlying[:10]
    out["letf_underlying"] = (ch.group_bars, ([term(u.proxy, lang, "underlyings") for u in top], [u.flow_usd / 1e9 for u in top], lab["letf"]))
    stocks = l.top_stocks[:12]
    out["letf_stocks"] = (ch.group_bars, ([x.ticker for x in stocks], [x.flow_usd / 1e9 for x in stocks], lab["top"]))
    out["letf_scenarios"] = (ch.scenario_curve, ([s.move_pct for s in l.scenarios], [s.flow_usd for s in l.scenarios], lab))
    if fl.available:
        out["flows_intensity"] = (ch.intensity_history, (fl.series.dates, fl.series.retail, fl.series.inst, lab))
        if fl.retail_timing:
            keys = ["open", "morning", "midday", "afternoon", "close"]
            out["flows_timing"] = (ch.timing_bars, (lab["buckets"], [fl.retail_timing[k] for k in keys], [fl.inst_timing[k] for k in keys], lab))
    return out


def label_pairs(base: object, other: object) -> dict[str, str] | None:
    """Base-language label -> other-language label, read from two charts' arguments side by side.

    None when the two differ in anything but strings (so one drawing cannot serve both) or one
    label would need two translations.
    """
    pairs: dict[str, str] = {}

    def walk(a: object, b: object) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return pairs.setdefault(a, b) == b
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(walk(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(walk(x, y) for x, y in zip(a, b))
        return type(a) is type(b) and a == b

    return pairs if walk(base, other) else None


def chart_svgs(facts: FactsRecord, langs: list[str], memo: dict | None = None) -> dict[str, dict[str, str]]:
    """Every chart of the note in every language: lang -> chart name -> SVG text.

    Each chart is drawn once, in the first language, and written out in the others by swapping
    its labels (:func:`rendering.charts.to_svgs`); a language whose chart cannot share the
    drawing is drawn on its own. ``memo`` holds drawings by their inputs across calls: a
    backfill passes one for many dates, and a chart whose data did not change (the paths
    after past crashes change a few times a year) is drawn once.
    """
    base = langs[0]
    specs = {lang: chart_specs(facts, lang) for lang in langs}
    sources = {lang: term("source", lang, "chart_labels").format(src=facts.meta.provider) for lang in langs}
    out: dict[str, dict[str, str]] = {lang: {} for lang in langs}

    def drawn(name: str, drawing_lang: str, pairs: dict[str, dict[str, str]]) -> dict[str, str]:
        """Chart ``name`` drawn in ``drawing_lang`` and written out in each language of ``pairs``."""
        draw, args = specs[drawing_lang][name]
        key = repr((name, drawing_lang, args, sorted(pairs.items()), [sources[x] for x in sorted(pairs)]))
        if memo is not None and key in memo:
            return memo[key]
        with ch.house_style(drawing_lang):
            svgs = ch.to_svgs(draw(*args), {x: sources[x] for x in pairs}, pairs, {x: ch.fonts(x) for x in pairs},
                              prefix=name, base=drawing_lang)
        if memo is not None:
            memo[key] = svgs
        return svgs

    for name, (_, args) in specs[base].items():
        labels = {lang: label_pairs(args, specs[lang][name][1]) for lang in langs if name in specs[lang]}
        svgs = drawn(name, base, {lang: pairs for lang, pairs in labels.items() if pairs is not None})
        for lang in labels:
            if lang not in svgs:  # its labels would change the layout: a drawing of its own
                svgs[lang] = drawn(name, lang, {lang: {}})[lang]
            out[lang][name] = svgs[lang]
    return out


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
                                                      nav=nav)


NAV_START, NAV_END = "<!--nightdesk:nav-->", "<!--/nightdesk:nav-->"
"""Comments around the navigation in a note's HTML: the web service swaps in current links."""


def nav_context(date: str, lang: str, *, langs: list[str], pdf_editions: list[str], prev: tuple[str, str] | None,
                next_: tuple[str, str] | None) -> dict:
    """What ``nav.html.j2`` needs for the note of ``date`` in ``lang``; every link is relative to
    the note's folder, so it works from the files and from the web service alike.

    ``prev`` / ``next_`` are ``(date, note file name)`` of the neighbouring published sessions.
    """
    from nightdesk.templates import site_text

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
