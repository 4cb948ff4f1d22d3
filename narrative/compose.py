"""Compose the note's text from the facts record, per language.

Glossary terms are rendered as private-use tokens first, so OpenCC (zh-Hant -> zh-Hans)
never touches them; the tokens are then swapped for the glossary entry of the edition.
"""
from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import jinja2

from nightdesk.facts.record import EventStudy, FactsRecord
from nightdesk.narrative import formatting as fm

LANGS = ("en", "zh-Hant", "zh-Hans")
_TOKEN = re.compile("\ue000([^\ue001]+)\ue001")


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
    title: str
    dateline: str
    headline: str
    takeaways: list[str]
    sections: list[Section]
    methods: list[str]
    disclaimer_title: str
    disclaimer: str
    email_disclaimer: list[str]
    labels: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def glossary() -> dict[str, dict]:
    """The finance glossary (``narrative/glossary.toml``)."""
    return tomllib.loads((resources.files("nightdesk.narrative") / "glossary.toml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def disclaimers() -> dict[str, dict]:
    """Risk disclaimers (``narrative/disclaimer.toml``)."""
    return tomllib.loads((resources.files("nightdesk.narrative") / "disclaimer.toml").read_text(encoding="utf-8"))


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


def _finish(text: str, lang: str) -> str:
    """Convert zh-Hant to zh-Hans where needed and resolve glossary tokens."""
    if lang == "zh-Hans":
        text = _opencc().convert(text).replace("「", "“").replace("」", "”")

    def swap(m: re.Match) -> str:
        table, _, key = m.group(1).partition(":")
        return term(key, lang, table)

    return _TOKEN.sub(swap, text)


@lru_cache(maxsize=len(LANGS))
def _env(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nightdesk.templates", "narrative"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zh = lang != "en"
    money_lang = lang
    tok = (lambda table, key: f"\ue000{table}:{key}\ue001") if zh else (lambda table, key: term(key, "en", table))
    env.globals.update(
        P="\n\n",
        t=lambda key: (term(key, "en"), tok("terms", key))[zh] if key in glossary()["terms"] else term(key, lang),
        sector=lambda name: tok("sectors", name),
        underlying=lambda proxy: tok("underlyings", proxy) if proxy in glossary()["underlyings"] else proxy,
        when=lambda w: {"am": ("mostly in the morning", "多在早盤"), "pm": ("mostly in the afternoon", "多在午盤"), "spread": ("spread through the day", "分散於全日")}[w][zh],
    )
    env.filters.update(
        pct=fm.pct,
        apct=lambda v: fm.pct(v, signed=False),
        sigma=fm.sigma,
        asigma_zh=lambda v: fm.num(v, signed=False),
        ordinal=fm.ordinal,
        ordinal1=lambda v: fm.ordinal(max(1, round(v))),
        int0=lambda v: f"{round(v):d}",
        int1=lambda v: f"{max(1, round(v)):d}",
        pp=lambda v: fm.num(v) + "pp",
        app=lambda v: fm.num(v, signed=False) + "pp",
        pp_zh=lambda v: fm.num(v),
        app_zh=lambda v: fm.num(v, signed=False),
        usd=lambda v: fm.usd(v, money_lang),
        usd_signed=lambda v: fm.usd(v, money_lang, signed=True),
        corr=lambda v: fm.corr(v) if fm.is_finite(v) else ("n/a" if not zh else "不適用"),
        longdate=lambda d: fm.long_date(d, lang),
    )
    return env


def _paragraphs(text: str) -> list[str]:
    out = []
    for p in re.split(r"\n\s*\n", text.strip()):
        if p.strip():
            p = re.sub(r"\s*\n\s*", "" if _is_cjk(p) else " ", p.strip())
            out.append(re.sub(r" {2,}", " ", p))
    return out


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


METHODS = {
    "en": {
        "momentum": "Momentum: S&P 500 members, 12-1 month price momentum ({lookback}/{skip} sessions), top vs bottom {q:.0%}, equal-weight, rebalanced monthly; σ over the trailing {zw} sessions. Events: {rule}; {n} events since {since} (panel) and {nu} since {su} (Ken French UMD).",
        "rotation": "Rotation: GICS sectors point in time (snapshot {snap}); breadth = share of members beating SPY; cap weights rolled from 2024-12 market caps by price; themes from a versioned list.",
        "letf": "Leveraged ETFs: {n} funds, flow = AUM·L·(L−1)·r at the close (model estimate); AUM anchors dated {old} to {new}, rolled by each fund's price; {x} funds excluded. Index flows passed to members by market cap.",
        "flows": "Flows: {src}.",
        "flags": "Data quality: {n} observations excluded in the window ({checks}); on the date: {today}.",
        "bias": "The price sample holds today's index members only (survivorship-biased); returns of delisted names are missing.",
    },
    "zh": {
        "momentum": "動能：S&P 500成分股，12-1個月價格動能（{lookback}/{skip}個交易日），前後{q:.0%}等權重，每月再平衡；標準差以過去{zw}個交易日計。事件條件：{rule}；樣本自{since}年起{n}次，Ken French UMD自{su}年起{nu}次。",
        "rotation": "類股輪動：GICS類股採時點資料（{snap}快照）；市場廣度為跑贏SPY之成分股比例；市值權重以2024年12月市值依股價推算；主題籃子依版本化清單。",
        "letf": "槓桿型ETF：{n}檔基金，收盤再平衡金額＝AUM·L·(L−1)·r（模型估算）；資產規模基準日{old}至{new}，依各基金價格推算；排除{x}檔。指數型資金流依市值分配至成分股。",
        "flows": "資金流：{src}。",
        "flags": "數據品質：期間內排除{n}筆觀測值（{checks}）；當日：{today}。",
        "bias": "價格樣本僅含現有成分股（存活者偏差），已下市個股報酬不在其中。",
    },
}


CHECK_NAMES_ZH = {"stale_close": "收盤價停滯", "split_like_jump": "疑似未還原分割", "non_session": "非交易日", "duplicate_date": "重複日期", "bad_value": "異常值"}
SOURCES_ZH = {
    "prices": "價格：Yahoo Finance還原收盤價（GitHub公開資料集dsturdy/Factor_Attribution），2015-01-02至2026-08-03；僅供說明之樣本，含存活者偏差",
    "sectors": "類股：S&P 500成分股GICS分類快照，2012-12-27至2026-08-08（datasets/s-and-p-500-companies，ODC-PDDL）",
    "reference": "市值與指數權重：2024年12月（Kaggle S&P 500 stocks，CC0）",
    "letf_registry": "槓桿型ETF名錄：整理自公開ETF資料表，資產規模日期2019年至2026年10月",
    "factors": "因子：Kenneth R. French Data Library每日Fama-French因子及動能因子（UMD），202604 CRSP版本",
}


_HANT_TERMS = ("動能因子", "動能", "報酬", "標準差", "再平衡", "資產規模", "槓桿型ETF", "多頭部位", "類股", "市場廣度", "檔")


def _tokenise_terms(text: str) -> str:
    """Mark glossary terms written out in zh-Hant prose so the zh-Hans edition takes its own entry."""
    by_hant = {v["hant"]: k for k, v in glossary()["terms"].items()}
    for word in _HANT_TERMS:
        text = text.replace(word, f"\ue000terms:{by_hant[word]}\ue001")
    return text


def localise(text: str, lang: str) -> str:
    """zh-Hant text (labels, methods) in the edition's language: glossary terms from the glossary,
    the rest through OpenCC. English passes through unchanged."""
    return text if lang == "en" else _finish(_tokenise_terms(text), lang)


def _rule_text(h: EventStudy, lang: str) -> str:
    """The event rule of the history block, in words."""
    if lang == "en":
        if h.rule_kind == "z":
            return f"L/S z ≤ {fm.num(h.z_fallback, signed=True)} (the % rule found too few days)"
        long = f" and long leg ≤ {fm.pct(h.trigger_long_pct)}" if h.trigger_long_pct is not None else ""
        return f"L/S ≤ {fm.pct(h.trigger_ls_pct)}{long}"
    if h.rule_kind == "z":
        return f"多空組合標準化分數≤{fm.num(h.z_fallback)}（百分比條件之樣本不足）"
    long = f"且多頭部位≤{fm.pct(h.trigger_long_pct)}" if h.trigger_long_pct is not None else ""
    return f"多空組合≤{fm.pct(h.trigger_ls_pct)}{long}"


def _methods(f: FactsRecord, lang: str) -> list[str]:
    ph = METHODS["en" if lang == "en" else "zh"]
    m, l, fl, meta = f.momentum, f.letf, f.flows, f.meta
    p = m.params
    flags = meta.flags
    zh = lang != "en"
    checks = ("、" if zh else ", ").join(f"{CHECK_NAMES_ZH.get(k, k) if zh else k.replace('_', ' ') + ' '}{v}" for k, v in flags.by_check.items()) or ("無" if zh else "none")
    today = ("、" if zh else ", ").join(f"{x.ticker}（{CHECK_NAMES_ZH.get(x.check, x.check)}）" if zh else f"{x.ticker} ({x.check.replace('_', ' ')})" for x in flags.on_date) or ("無" if zh else "none")
    src = meta.sources.get("flows", "")
    if lang != "en" and fl.simulated:
        src = "模擬數據：依真實價格以固定種子產生之合成散戶／機構資金流，僅供說明"
    panel, umd = m.history.panel, m.history.umd
    lines = [
        ph["momentum"].format(lookback=p.lookback_days, skip=p.skip_days, q=p.quantile, zw=p.z_window_days,
                              rule=_rule_text(panel, lang), n=panel.n_events, since=panel.since_year, nu=umd.n_events, su=umd.since_year),
        ph["rotation"].format(snap=f.rotation.sector_snapshot.isoformat()),
        ph["letf"].format(n=l.n_funds, old=l.aum_as_of.oldest.isoformat(), new=l.aum_as_of.newest.isoformat(), x=l.n_excluded),
        ph["flows"].format(src=src),
        ph["flags"].format(n=flags.n_window, checks=checks, today=today),
        ph["bias"],
    ]
    if lang == "en":
        lines += [f"Source — {k}: {v}." for k, v in meta.sources.items() if k != "flows"]
    else:
        lines += [f"資料來源—{SOURCES_ZH.get(k, v) if meta.provider == 'sample' else v}。" for k, v in meta.sources.items() if k != "flows"]
    return lines


def compose_note(facts: FactsRecord, lang: str) -> Note:
    """Render every piece of text of one edition from ``facts``.

    Parameters
    ----------
    facts : FactsRecord
    lang : {'en', 'zh-Hant', 'zh-Hans'}
    """
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(LANGS)}")
    module = _env(lang).get_template("en.j2" if lang == "en" else "zh.j2").module
    fin = lambda s: _finish(s, lang)  # noqa: E731
    sections = []
    for key in ("momentum", "rotation", "letf", "flows"):
        paras = [fin(p) for p in _paragraphs(str(getattr(module, key)(facts)))]
        watch_prefix = term("watch", lang)
        watch = next((p for p in paras if p.startswith(watch_prefix)), "")
        sections.append(Section(key=key, title=term(f"sec_{key}", lang), paragraphs=[p for p in paras if p != watch], watch=watch))
    d = disclaimers()
    col = "en" if lang == "en" else "hant"
    disclaimer = d["full"][col] if lang != "zh-Hans" else fin(d["full"]["hant"])
    email = d["email"][col] if lang != "zh-Hans" else [fin(x) for x in d["email"]["hant"]]
    return Note(
        lang=lang,
        title=fin(str(module.title(facts)).strip()),
        dateline=fin(str(module.dateline(facts)).strip()),
        headline=fin(_paragraphs(str(module.headline(facts)))[0]),
        takeaways=[fin(x.strip()) for x in str(module.takeaways(facts)).splitlines() if x.strip()],
        sections=sections,
        methods=[localise(x, lang) for x in _methods(facts, lang)],
        disclaimer_title=term("risk_disclaimer", lang),
        disclaimer=disclaimer,
        email_disclaimer=email,
        labels={k: term(k, lang) for k in ("key_takeaways", "data_methods", "simulated", "desk", "see_disclaimer", "col_stock", "col_flow", "col_via_index", "col_direct")},
    )


def as_text(note: Note) -> str:
    """Plain-text rendering of an edition (golden snapshots, plain-text email, review)."""
    lines = [note.title, note.dateline, "", note.headline, "", note.labels["key_takeaways"]]
    lines += [f"- {t}" for t in note.takeaways]
    for i, s in enumerate(note.sections, start=1):
        lines += ["", f"{i}. {s.title}"] + s.paragraphs + ([s.watch] if s.watch else [])
    lines += ["", note.labels["data_methods"]] + [f"- {m}" for m in note.methods]
    lines += ["", note.disclaimer_title, note.disclaimer]
    return "\n".join(lines) + "\n"


def compose_notes(facts: FactsRecord, langs: list[str]) -> dict[str, Note]:
    """Every edition of ``langs``, composed once (rendering and email read them)."""
    return {lang: compose_note(facts, lang) for lang in langs}


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
