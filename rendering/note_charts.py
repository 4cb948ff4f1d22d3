"""The note's charts: which charts a note has, with what data and labels per language, and
their SVGs in every edition (drawn once where the languages can share a drawing)."""
from __future__ import annotations

from collections.abc import Callable

from nightdesk.facts.record import FactsRecord, ThemeRow
from nightdesk.narrative.compose import glossary, localise, term
from nightdesk.rendering import charts as ch
from nightdesk.rendering.svg_i18n import SvgWriter


MONEY_UNIT_USD = {"en": 1e9, "zh-Hant": 1e8, "zh-Hans": 1e8}
"""Money on chart axes as the edition's text writes it: $bn, 億美元 / 亿美元."""


def story_chart(facts: FactsRecord) -> str:
    """The chart that tells the day's story (page 1): the L/S path on a momentum or quiet day, the
    distribution of daily L/S moves (today in the middle of it) on an index day, the groups'
    z-scores on a rotation day."""
    primary = facts.story.primary
    if primary.startswith("index_"):
        return "momentum_dist"
    if primary == "rotation_day":
        return "rotation_groups"
    return "momentum_cum"


def chart_specs(facts: FactsRecord, lang: str) -> dict[str, tuple[Callable, tuple]]:
    """Every chart of the note for ``lang``: name -> (chart function, its arguments), in page order."""
    lab = {k: term(k, lang, "chart_labels") for k in glossary()["chart_labels"]}
    unit = MONEY_UNIT_USD[lang]
    m, r, l, fl = facts.momentum, facts.rotation, facts.letf, facts.flows
    ms = m.series
    out: dict[str, tuple[Callable, tuple]] = {}
    out["momentum_cum"] = (ch.ls_cumulative, (ms.ls_cum_dates, ms.ls_cum_pct, lab))
    out["momentum_dist"] = (ch.ls_distribution, (ms.ls_hist_edges_pct, ms.ls_hist_counts, m.ls_ret_pct, lab["dist"].format(y=m.ls_since.year), lab))
    if ms.fwd_path_med_pct:
        fwd = {**lab, "fwd": lab["fwd_up"] if m.history.side == "up" else lab["fwd"]}
        out["momentum_fwd"] = (ch.forward_paths, (ms.fwd_path_q25_pct, ms.fwd_path_med_pct, ms.fwd_path_q75_pct, fwd))
    secs = [g for g in r.sectors if g.sufficient]
    out["rotation_heatmap"] = (ch.sector_heatmap, ([term(g.key, lang, "sectors") for g in secs],
                                                   [[g.ret_1d_pct, g.ret_5d_pct, g.ret_20d_pct] for g in secs], lab["heat_cols"], lab["heat"]))
    out["rotation_breadth"] = (ch.breadth_history, (r.series.breadth_dates, r.series.breadth_pct, lab["breadth"]))
    ranked = sorted((g for g in [*r.sectors, *r.themes] if g.sufficient and g.z is not None), key=lambda g: g.z)
    groups = ranked if len(ranked) <= 12 else [*ranked[:6], *ranked[-6:]]  # the six lowest and six highest z
    names = [localise(g.name_en if lang == "en" else g.name_zh, lang) if isinstance(g, ThemeRow) else term(g.key, lang, "sectors") for g in groups]
    out["rotation_groups"] = (ch.group_bars, (names, [g.z for g in groups], lab["themes"]))
    top = l.by_underlying[:10]
    out["letf_underlying"] = (ch.group_bars, ([term(u.proxy, lang, "underlyings") for u in top], [u.flow_usd / unit for u in top], lab["letf"]))
    if fl.available:
        out["flows_intensity"] = (ch.intensity_history, (fl.series.dates, fl.series.retail, fl.series.inst, lab))
        if fl.retail_timing:
            keys = ["open", "morning", "midday", "afternoon", "close"]
            out["flows_timing"] = (ch.timing_bars, (lab["buckets"], [fl.retail_timing[k] for k in keys], [fl.inst_timing[k] for k in keys], lab))
    if facts.story.primary == "quiet":  # a short note: the charts that still say something on a quiet day
        out = {k: v for k, v in out.items() if k in QUIET_DAY_CHARTS}
    return out


QUIET_DAY_CHARTS = ("momentum_cum", "rotation_groups", "rotation_breadth", "letf_underlying", "flows_intensity")
"""On a quiet day the distribution (today in its middle), the heatmap and the timing bars are left out."""


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


def chart_svgs(facts: FactsRecord, langs: list[str], writer: SvgWriter | None = None) -> dict[str, dict[str, str]]:
    """Every chart of the note in every language: lang -> chart name -> SVG text.

    Each chart is drawn once, in the first language, and written out in the others by swapping
    its labels (:class:`~nightdesk.rendering.svg_i18n.SvgWriter`); a language whose chart cannot
    share the drawing is drawn on its own. ``writer`` keeps drawings by their inputs across
    calls: a backfill passes one for many dates, and a chart whose data did not change (the
    paths after past crashes change a few times a year) is drawn once.
    """
    writer = writer or SvgWriter()
    base = langs[0]
    specs = {lang: chart_specs(facts, lang) for lang in langs}
    out: dict[str, dict[str, str]] = {lang: {} for lang in langs}

    def drawn(name: str, drawing_lang: str, pairs: dict[str, dict[str, str]]) -> dict[str, str]:
        """Chart ``name`` drawn in ``drawing_lang`` and written out in each language of ``pairs``."""
        draw, args = specs[drawing_lang][name]
        key = repr((name, drawing_lang, args, sorted(pairs.items())))
        if key not in writer.drawings:
            with ch.house_style(drawing_lang):
                fig = draw(*args)
                labels = {x: pairs[x] if x != drawing_lang else {} for x in pairs}
                writer.drawings[key] = writer.write(fig, labels, {x: ch.fonts(x) for x in pairs}, prefix=name, base=drawing_lang)
        return writer.drawings[key]

    for name, (_, args) in specs[base].items():
        labels = {lang: label_pairs(args, specs[lang][name][1]) for lang in langs if name in specs[lang]}
        svgs = drawn(name, base, {lang: pairs for lang, pairs in labels.items() if pairs is not None})
        for lang in labels:
            if lang not in svgs:  # its labels would change the layout: a drawing of its own
                svgs[lang] = drawn(name, lang, {lang: {}})[lang]
            out[lang][name] = svgs[lang]
    return out
