"""Compose each edition's words from the facts record: the plan (:mod:`narrative.plan`) rendered
with the message catalog (``messages.toml``) and the glossary, per language.

English and Traditional Chinese (Taiwan) are written in the catalog. Simplified Chinese
(mainland) is the Traditional text with glossary terms held as private-use tokens, converted by
OpenCC (tw2sp), the tokens swapped for the glossary's Simplified entries, and Taiwan wording
replaced by the mainland list (``tw2cn.toml``).
"""
from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from nightdesk.facts.record import FactsRecord, ThemeRow
from nightdesk.narrative import formatting as fm
from nightdesk.narrative import plan as pl

LANGS = ("en", "zh-Hant", "zh-Hans")
_TOKEN = re.compile("\ue000([^\ue001]+)\ue001")
_TERM_REF = re.compile(r"\[\[([a-z_0-9]+)\]\]")


@dataclass(frozen=True)
class Section:
    """One analysis section: heading, paragraphs and the 'Watch' line."""

    key: str
    title: str
    paragraphs: list[str]
    watch: str


@dataclass(frozen=True)
class Note:
    """All the words of one edition."""

    lang: str
    story: str
    story_label: str
    title: str
    dateline: str
    headline: str
    takeaways: list[str]
    key_figures: list[list[str]]
    sections: list[Section]
    bottom_line: list[str]
    captions: dict[str, str]
    chart_source: str
    methods: list[str]
    disclaimer_title: str
    disclaimer: str
    email_disclaimer: list[str]
    labels: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- tables


def _toml(name: str) -> dict:
    return tomllib.loads((resources.files("nightdesk.narrative") / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def glossary() -> dict[str, dict]:
    """The finance glossary (``narrative/glossary.toml``)."""
    return _toml("glossary.toml")


@lru_cache(maxsize=1)
def messages() -> dict[str, dict]:
    """The message catalog (``narrative/messages.toml``)."""
    return _toml("messages.toml")


@lru_cache(maxsize=1)
def disclaimers() -> dict[str, dict]:
    """Risk disclaimers (``narrative/disclaimer.toml``)."""
    return _toml("disclaimer.toml")


@lru_cache(maxsize=1)
def tw2cn() -> list[tuple[str, str]]:
    """Taiwan wording -> mainland wording (``narrative/tw2cn.toml``), longest first."""
    pairs = _toml("tw2cn.toml")["tw2cn"]
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


@lru_cache(maxsize=1)
def _opencc():
    import opencc

    return opencc.OpenCC("tw2sp")


def _col(lang: str) -> str:
    return {"en": "en", "zh-Hant": "hant", "zh-Hans": "hans"}[lang]


def term(key: str, lang: str, table: str = "terms") -> str:
    """Glossary entry for ``key`` in ``lang`` (KeyError names a missing term)."""
    entry = glossary()[table].get(key)
    if entry is None:
        if table == "terms":
            raise KeyError(f"glossary has no term {key!r}")
        return key
    return entry[_col(lang)]


def _tok(table: str, key: str) -> str:
    return f"\ue000{table}:{key}\ue001"


def to_mainland(text: str) -> str:
    """Simplified text with Taiwan wording replaced by mainland wording."""
    for tw, cn in tw2cn():
        text = text.replace(tw, cn)
    return text


def _finish(text: str, lang: str) -> str:
    """zh-Hant text with glossary tokens -> the edition's text."""
    if lang == "zh-Hans":
        text = _opencc().convert(text).replace("「", "“").replace("」", "”")

    def swap(m: re.Match) -> str:
        table, _, key = m.group(1).partition(":")
        return term(key, lang, table)

    text = _TOKEN.sub(swap, text)
    return to_mainland(text) if lang == "zh-Hans" else text


_HANT_TERMS = ("動能因子", "動能", "報酬", "標準差", "再平衡", "資產規模", "槓桿型ETF", "多頭部位", "類股", "市場廣度", "檔")


def localise(text: str, lang: str) -> str:
    """zh-Hant text from data (theme names) in the edition's language: glossary terms from the
    glossary, the rest through OpenCC and the mainland list. English passes through unchanged."""
    if lang == "en":
        return text
    by_hant = {v["hant"]: k for k, v in glossary()["terms"].items()}
    for word in _HANT_TERMS:
        text = text.replace(word, _tok("terms", by_hant[word]))
    return _finish(text, lang)


# ---------------------------------------------------------------- rendering a plan


def _message(key: str, lang: str) -> str:
    section, _, name = key.partition(".")
    try:
        text = messages()[section][name]["en" if lang == "en" else "hant"]
    except KeyError:
        raise KeyError(f"messages.toml has no {key!r}") from None
    if lang == "en":
        return _TERM_REF.sub(lambda m: term(m.group(1), "en"), text)
    return _TERM_REF.sub(lambda m: _tok("terms", m.group(1)), text)


def _group_name(row, lang: str) -> str:
    if isinstance(row, ThemeRow) or getattr(row, "kind", None) == "theme":
        return row.name_en if lang == "en" else row.name_zh
    return term(row.key, lang, "sectors") if lang == "en" else _tok("sectors", row.key)


def _value(v, lang: str) -> str:
    """A value of the plan as the edition writes it (zh: Traditional with glossary tokens)."""
    zh = lang != "en"
    money_lang = "zh-Hant" if zh else "en"
    if v is None:
        return ""
    if isinstance(v, pl.Msg):
        return _render(v, lang)
    if isinstance(v, pl.Pct):
        return fm.pct(v.v, signed=v.signed)
    if isinstance(v, pl.Pp):
        return fm.num(v.v, signed=v.signed) + (_tok("terms", "percentage_point") if zh else "pp")
    if isinstance(v, pl.Sigma):
        if zh and v.prose:
            return f"{fm.num(v.v, signed=False)}個{_tok('terms', 'std_dev')}"
        return fm.sigma(v.v, signed=v.signed)
    if isinstance(v, pl.Usd):
        return fm.usd(v.v, money_lang, signed=v.signed)
    if isinstance(v, pl.Int):
        return f"{v.v:,}"
    if isinstance(v, pl.Year):
        return str(v.v)
    if isinstance(v, pl.Corr):
        return fm.corr(v.v) if fm.is_finite(v.v) else ("不適用" if zh else "n/a")
    if isinstance(v, pl.Ordinal):
        return str(round(v.v)) if zh else fm.ordinal(v.v)
    if isinstance(v, pl.Nth):
        return str(v.k) if zh else f"{fm.ordinal(v.k)}-{v.word}"
    if isinstance(v, pl.Group):
        return _group_name(v.row, lang)
    if isinstance(v, pl.Sector):
        return _tok("sectors", v.key) if zh else term(v.key, "en", "sectors")
    if isinstance(v, pl.Underlying):
        known = v.proxy in glossary()["underlyings"]
        return (_tok("underlyings", v.proxy) if zh else term(v.proxy, "en", "underlyings")) if known else v.proxy
    if isinstance(v, pl.Literal_):
        return v.s
    if isinstance(v, pl.Date):
        return fm.long_date(v.d, "zh-Hant" if zh else "en")
    if isinstance(v, pl.Term):
        return _tok("terms", v.key) if zh else term(v.key, "en")
    if isinstance(v, pl.Entry):
        known = v.key in glossary()[v.table]
        return (_tok(v.table, v.key) if zh else term(v.key, "en", v.table)) if known else v.key.replace("_", " ")
    if isinstance(v, pl.Join):
        parts = [_value(x, lang) for x in v.items]
        if zh or len(parts) < 2:
            return "、".join(parts)
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    raise TypeError(f"cannot render {v!r}")


def _render(msg: pl.Msg, lang: str) -> str:
    template = _message(msg.key, lang)
    values = {k: _value(v, lang) for k, v in msg.args.items()}
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise KeyError(f"message {msg.key!r} needs {exc} from the plan") from None


def sentence(msg: pl.Msg, lang: str) -> str:
    """A message of the plan as a finished sentence of the edition."""
    text = _finish(_render(msg, lang), lang)
    text = re.sub(r" {2,}", " ", text).strip()
    if lang == "en" and text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


def _paragraph(msgs: list[pl.Msg], lang: str) -> str:
    return ("" if lang != "en" else " ").join(sentence(x, lang) for x in msgs)


# ---------------------------------------------------------------- Data & methods


def _methods(f: FactsRecord, lang: str) -> list[str]:
    mo, l, fl, meta = f.momentum, f.letf, f.flows, f.meta
    p = mo.params
    zh = lang != "en"
    say = lambda key, **args: sentence(pl.m(key, **args), lang)  # noqa: E731
    lines = [say("methods.momentum", lookback=pl.Int(p.lookback_days), skip=pl.Int(p.skip_days), q=pl.Pct(100 * p.quantile, signed=False),
                 zw=pl.Int(p.z_window_days))]
    h = mo.history
    if h.panel is not None and h.umd is not None:
        rule = h.panel.rule
        fallback = pl.m("words.empty")
        if rule.kind == "z" and rule.ls_pct is not None and rule.long_pct is not None:  # the % rule found too few days: say which it was
            fallback = pl.m("methods.fallback", ls=pl.Pct(rule.ls_pct), long=pl.Pct(rule.long_pct))
        lines.append(say("methods.events", rule=pl._rule(rule), n=pl.Int(h.panel.n_events), year=pl.Year(h.panel.since_year),
                         un=pl.Int(h.umd.n_events), uy=pl.Year(h.umd.since_year), urule=pl._rule(h.umd.rule, umd=True), gap=pl.Int(p.decluster_days),
                         fallback=fallback))
    elif h.side is not None:
        lines.append(say("methods.no_match", z=pl.Sigma(mo.ls_z)))
    else:
        lines.append(say("methods.no_events", z=pl.Sigma(mo.ls_z), level=pl.m("words.band", x=pl.Sigma(f.story.thresholds.momentum_z, signed=False))))
    lines.append(say("methods.rotation", snap=pl.Literal_(f.rotation.sector_snapshot.isoformat())))
    later = pl.m("methods.letf_later") if l.aum_as_of.newest > meta.date else pl.m("words.empty")  # no hidden look-ahead
    lines.append(say("methods.letf", n=pl.Int(l.n_funds), old=pl.Literal_(l.aum_as_of.oldest.isoformat()), new=pl.Literal_(l.aum_as_of.newest.isoformat()),
                     later=later, x=pl.Int(l.n_excluded)))
    if not fl.available:
        lines.append(say("methods.flows_none"))
    elif fl.simulated:
        lines.append(say("methods.flows_simulated"))
    else:
        lines.append(say("methods.flows_real", source=pl.Literal_(meta.sources.get("flows", ""))))
    flags = meta.flags
    checks = pl.Join(tuple(pl.m("methods.count", what=pl.Entry("checks", k), n=pl.Int(v)) for k, v in flags.by_check.items()))
    today = pl.Join(tuple(pl.m("methods.flagged", ticker=pl.Literal_(x.ticker), what=pl.Entry("checks", x.check)) for x in flags.on_date))
    none = pl.m("methods.none")
    lines.append(say("methods.flags", n=pl.Int(flags.n_window), checks=checks if flags.by_check else none, today=today if flags.on_date else none))
    if meta.stale_inputs:
        items = pl.Join(tuple(pl.m("methods.stale_item", what=pl.Entry("inputs", x.input), date=pl.Literal_(x.as_of.isoformat()), age=pl.Int(x.age_days),
                                   limit=pl.Int(x.limit_days)) for x in meta.stale_inputs))
        lines.append(say("methods.stale", items=items))
    if meta.survivorship_biased:
        lines.append(say("methods.bias"))
    for key, text in meta.sources.items():
        if key == "flows":
            continue
        shown = SOURCES_ZH.get(key, text) if zh and meta.provider == "sample" else text
        lines.append(say("methods.source", label=pl.Entry("sources", key), text=pl.Literal_(shown)))
    return lines


SOURCES_ZH = {
    "prices": "Yahoo Finance還原收盤價（GitHub公開資料集dsturdy/Factor_Attribution），2015-01-02至2026-08-03；僅供說明之樣本，含存活者偏差",
    "sectors": "標普500成分股GICS分類快照，2012-12-27至2026-08-08（datasets/s-and-p-500-companies，ODC-PDDL）",
    "reference": "市值與指數權重：2024年12月（Kaggle S&P 500 stocks，CC0）",
    "letf_registry": "整理自公開ETF資料表，資產規模日期2019年至2026年10月",
    "factors": "Kenneth R. French Data Library每日Fama-French因子及動能因子（UMD），202604 CRSP版本",
}


# ---------------------------------------------------------------- the edition


def compose_note(facts: FactsRecord, lang: str) -> Note:
    """Every piece of text of one edition of ``facts``.

    Parameters
    ----------
    facts : FactsRecord
    lang : {'en', 'zh-Hant', 'zh-Hans'}
    """
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(LANGS)}")
    p = pl.plan(facts)
    say = lambda msg: sentence(msg, lang)  # noqa: E731
    sections = [
        Section(key=s.key, title=term(f"sec_{s.key}", lang), paragraphs=[_paragraph(par, lang) for par in s.paragraphs],
                watch=say(s.watch) if s.watch is not None else "")
        for s in p.sections
    ]
    d = disclaimers()
    col = "en" if lang == "en" else "hant"
    disclaimer = d["full"][col] if lang != "zh-Hans" else _finish(d["full"]["hant"], lang)
    email = d["email"][col] if lang != "zh-Hans" else [_finish(x, lang) for x in d["email"]["hant"]]
    return Note(
        lang=lang,
        story=p.story,
        story_label=say(p.story_label),
        title=say(p.title),
        dateline=say(pl.m("dateline.text", date=pl.Date(facts.meta.date))),
        headline=say(p.headline),
        takeaways=[say(x) for x in p.takeaways],
        key_figures=[[say(label), _finish(_value(v, lang), lang)] for label, v in p.key_figures],
        sections=sections,
        bottom_line=[say(x) for x in p.bottom_line],
        captions={k: say(v) for k, v in p.captions.items()},
        chart_source=term("source", lang, "chart_labels").format(src=term(facts.meta.provider, lang, "providers")),
        methods=_methods(facts, lang),
        disclaimer_title=term("risk_disclaimer", lang),
        disclaimer=disclaimer,
        email_disclaimer=email,
        labels={k: term(k, lang) for k in ("key_takeaways", "data_methods", "simulated", "desk", "see_disclaimer", "col_stock", "col_flow",
                                           "col_via_index", "col_direct", "sec_bottom", "key_figures", "read_online")},
    )


def compose_notes(facts: FactsRecord, langs: list[str]) -> dict[str, Note]:
    """Every edition of ``langs``, composed once (rendering and email read them)."""
    return {lang: compose_note(facts, lang) for lang in langs}


def as_text(note: Note) -> str:
    """Plain-text rendering of an edition (golden snapshots, plain-text email, review)."""
    lines = [note.title, note.dateline, "", note.headline, "", note.labels["key_takeaways"]]
    lines += [f"- {t}" for t in note.takeaways]
    colon = ": " if note.lang == "en" else "："
    lines += ["", note.labels["key_figures"]] + [f"  {k}{colon}{v}" for k, v in note.key_figures]
    for i, s in enumerate(note.sections, start=1):
        lines += ["", f"{i}. {s.title}"] + s.paragraphs + ([s.watch] if s.watch else [])
    lines += ["", note.labels["sec_bottom"], " ".join(note.bottom_line) if note.lang == "en" else "".join(note.bottom_line)]
    lines += ["", note.labels["data_methods"]] + [f"- {m}" for m in note.methods]
    lines += ["", note.disclaimer_title, note.disclaimer]
    return "\n".join(lines) + "\n"


def note_to_json(note: Note) -> str:
    """``note.<lang>.json``: an edition's text, as the archive and email read it."""
    return json.dumps(dataclasses.asdict(note), ensure_ascii=False, indent=1)


def note_from_json(text: str) -> Note:
    """Read ``note.<lang>.json`` back (ValueError when it is not one)."""
    obj = json.loads(text)
    try:
        obj["sections"] = [Section(**s) for s in obj["sections"]]
        return Note(**obj)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a composed note: {exc}") from None


def email_summary(note: Note) -> dict:
    """Headline, three takeaways and the two-line disclaimer of an edition, for an email."""
    return {
        "lang": note.lang,
        "title": note.title,
        "date_label": note.dateline,
        "headline": note.headline,
        "takeaways": note.takeaways[:3],
        "disclaimer": note.email_disclaimer,
        "attachment_line": term("email_attachment", note.lang),
        "unsubscribe_label": term("unsubscribe", note.lang),
    }
