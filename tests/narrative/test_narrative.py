"""Golden texts for a crash, a quiet and a rally day; every number traceable; no stray English in Chinese.

Refresh the snapshots after a deliberate wording change with NIGHTDESK_UPDATE_GOLDEN=1 and
read the diff before committing it.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from nightdesk.narrative.compose import LANGS, as_text, compose_note
from tests.conftest import GOLDEN_DAYS

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DATES = GOLDEN_DAYS


@pytest.fixture(scope="module")
def facts_by_regime(records):
    return records


def test_regimes_are_as_labelled(facts_by_regime):
    assert {k: f.momentum.regime for k, f in facts_by_regime.items()} == {"crash": "crash", "quiet": "quiet", "rally": "rally"}


@pytest.mark.parametrize("regime", list(DATES))
@pytest.mark.parametrize("lang", LANGS)
def test_golden(facts_by_regime, regime, lang):
    text = as_text(compose_note(facts_by_regime[regime], lang))
    path = GOLDEN / f"{DATES[regime].isoformat()}.{lang}.txt"
    if os.environ.get("NIGHTDESK_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"golden {path.name} rewritten: read the diff before committing it")
    assert path.exists(), f"no golden {path.name}: run with NIGHTDESK_UPDATE_GOLDEN=1 and read the text before committing it"
    assert text == path.read_text(encoding="utf-8")


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def _allowed_numbers(facts) -> set[str]:
    out: set[str] = set()
    for v in _leaves(facts.model_dump(mode="json")):
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            a = abs(v)
            out |= {f"{a:.1f}", f"{a:.2f}", f"{a:,.1f}", f"{round(a)}", f"{round(a):,}", str(int(a)) if a == int(a) else ""}
            for scale in (1e12, 1e9, 1e8, 1e6, 1e4):
                out |= {f"{a / scale:.1f}", f"{a / scale:,.0f}", f"{a / scale:.0f}"}
        elif isinstance(v, str):
            out |= set(re.findall(r"\d[\d,]*(?:\.\d+)?", v))
    return out


# numbers the templates carry as part of a name or label, not as figures: each only in its phrase
TEMPLATE_PHRASES = [r"16:00", r"S&P 500", r"12-1 month", r"12-1個月", r"50-day", r"200-day", r"50日均[線线]", r"200日均[線线]", r"\(1M\)", r"\(3M\)",
                    r"1個月、3個月", r"1个月、3个月", r"\$100mn", r"1億美元", r"1亿美元", r"Nasdaq-100", r"那斯達克100", r"纳斯达克100",
                    r"Russell 2000", r"羅素2000", r"罗素2000", r"Feb–Mar", r"2至3月", r"1月", r"A·L·\(L−1\)·r", r"(?<![\d.])1%",
                    r"−2σ", r"2個標準差", r"2个标准差", r"60%", r"(?<![\d.])3%", r"5個交易日", r"5个交易日", r"20個交易日", r"20个交易日",
                    r"five sessions", r"twenty", r"(?<![\d.])5 sessions", r"Ken French", r"近5", r"近20"]


@pytest.mark.parametrize("regime", list(DATES))
@pytest.mark.parametrize("lang", LANGS)
def test_every_number_comes_from_facts(facts_by_regime, regime, lang):
    facts = facts_by_regime[regime]
    note = compose_note(facts, lang)
    text = "\n".join([note.headline, *note.takeaways, *(p for s in note.sections for p in s.paragraphs + [s.watch]), *note.methods])
    text = re.sub("|".join(TEMPLATE_PHRASES), " ", text)
    allowed = _allowed_numbers(facts)
    date_parts = {str(facts.meta.date.year), str(facts.meta.date.month), str(facts.meta.date.day)}
    tokens = re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", text)
    stray = [t for t in tokens if t not in allowed and t not in date_parts]
    assert not stray, f"numbers not traceable to the facts record: {stray[:10]}"


ALLOWED_LATIN = {"ETF", "ETFs", "AI", "S", "P", "UMD", "MTUM", "SPY", "RSP", "Gamma", "Ken", "French", "GICS", "AUM", "L", "r", "A",
                 "FANG", "VIX", "CRSP", "Fama", "Kenneth", "R", "Data", "Library", "Yahoo", "Finance", "GitHub", "Kaggle", "CC0",
                 "ODC", "PDDL", "datasets", "companies", "stocks", "dsturdy", "Factor_Attribution", "Attribution", "Factor", "and", "s", "p", "σ"}  # s-and-p-500-companies: a repository name


@pytest.mark.parametrize("lang", ["zh-Hant", "zh-Hans"])
def test_chinese_has_no_untranslated_english(facts_by_regime, lang):
    tickers = set()
    for f in facts_by_regime.values():
        tickers |= {v for v in _leaves(f.model_dump(mode="json")) if isinstance(v, str) and re.fullmatch(r"[A-Z]{1,5}(-[A-Z])?", v)}
    for regime, facts in facts_by_regime.items():
        note = compose_note(facts, lang)
        body = "\n".join([note.title, note.headline, *note.takeaways, *(p for s in note.sections for p in s.paragraphs + [s.watch]), *note.methods, note.disclaimer])
        words = set(re.findall(r"[A-Za-z][A-Za-z_0-9]*", body))
        stray = sorted(w for w in words if w not in ALLOWED_LATIN and w not in tickers and not re.fullmatch(r"[A-Z]{2,5}", w))
        assert not stray, f"{regime}/{lang}: English left in Chinese text: {stray}"


def test_missing_flows_gets_a_sentence(facts_by_regime):
    quiet = facts_by_regime["quiet"]
    facts = quiet.model_copy(update={"flows": quiet.flows.model_copy(update={"available": False, "unavailable_reason": "no_flow_data"})})
    for lang in LANGS:
        sec = compose_note(facts, lang).sections[3]
        assert sec.paragraphs and ("Not covered today" in sec.paragraphs[0] or "今日未" in sec.paragraphs[0])
