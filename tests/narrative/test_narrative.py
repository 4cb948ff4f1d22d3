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

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DATES = {"crash": dt.date(2026, 2, 4), "quiet": dt.date(2025, 7, 28), "rally": dt.date(2026, 4, 8)}


@pytest.fixture(scope="module")
def facts_by_regime(sample_provider):
    from nightdesk.flows.nightly import compute_facts
    from nightdesk.marketdata.registry import load_market_data
    from nightdesk.settings import Settings

    s = Settings()
    return {k: compute_facts(load_market_data(sample_provider, d, history_days=s.history_days), s) for k, d in DATES.items()}


def test_regimes_are_as_labelled(facts_by_regime):
    assert {k: f["momentum"]["regime"] for k, f in facts_by_regime.items()} == {"crash": "crash", "quiet": "quiet", "rally": "rally"}


@pytest.mark.parametrize("regime", list(DATES))
@pytest.mark.parametrize("lang", LANGS)
def test_golden(facts_by_regime, regime, lang):
    text = as_text(compose_note(facts_by_regime[regime], lang))
    path = GOLDEN / f"{DATES[regime].isoformat()}.{lang}.txt"
    if os.environ.get("NIGHTDESK_UPDATE_GOLDEN") or not path.exists():
        path.write_text(text, encoding="utf-8")
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


def _allowed_numbers(facts: dict) -> set[str]:
    out: set[str] = set()
    for v in _leaves(facts):
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


# numbers the templates themselves carry (rules, labels), not facts
TEMPLATE_CONSTANTS = {"16:00", "500", "50", "200", "60", "100", "1", "2", "3", "5", "12", "20", "1M", "3M", "12-1", "10", "8058"}


@pytest.mark.parametrize("regime", list(DATES))
@pytest.mark.parametrize("lang", LANGS)
def test_every_number_comes_from_facts(facts_by_regime, regime, lang):
    facts = facts_by_regime[regime]
    note = compose_note(facts, lang)
    text = "\n".join([note.headline, *note.takeaways, *(p for s in note.sections for p in s.paragraphs + [s.watch]), *note.methods])
    allowed = _allowed_numbers(facts) | TEMPLATE_CONSTANTS
    date_parts = {str(facts["meta"]["date"][:4]), str(int(facts["meta"]["date"][5:7])), str(int(facts["meta"]["date"][8:]))}
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
        tickers |= {v for v in _leaves(f) if isinstance(v, str) and re.fullmatch(r"[A-Z]{1,5}(-[A-Z])?", v)}
    for regime, facts in facts_by_regime.items():
        note = compose_note(facts, lang)
        body = "\n".join([note.title, note.headline, *note.takeaways, *(p for s in note.sections for p in s.paragraphs + [s.watch]), *note.methods, note.disclaimer])
        words = set(re.findall(r"[A-Za-z][A-Za-z_0-9]*", body))
        stray = sorted(w for w in words if w not in ALLOWED_LATIN and w not in tickers and not re.fullmatch(r"[A-Z]{2,5}", w))
        assert not stray, f"{regime}/{lang}: English left in Chinese text: {stray}"


def test_missing_flows_gets_a_sentence(facts_by_regime):
    facts = dict(facts_by_regime["quiet"])
    facts["flows"] = {**facts["flows"], "available": False, "reason": "no flow data for the date"}
    for lang in LANGS:
        sec = compose_note(facts, lang).sections[3]
        assert sec.paragraphs and ("Not covered today" in sec.paragraphs[0] or "今日未" in sec.paragraphs[0])
