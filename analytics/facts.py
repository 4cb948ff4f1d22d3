"""The facts record: one versioned, validated dict that narrative, charts and email read.

Units are in the key names (``_pct`` percent, ``_pp`` percentage points, ``_usd`` US
dollars, ``_z`` standard deviations, ``_pctile`` percentile 0-100, ``_days`` sessions).
"""
from __future__ import annotations

import math
from typing import Any

SCHEMA_VERSION = "1.0"

KEY_DOCS: dict[str, str] = {
    "meta.date": "note session, ISO date",
    "meta.provider": "market-data provider name",
    "meta.data_as_of": "last close used, ISO date",
    "meta.flags": "data-quality exclusions on the date and counts in the window",
    "meta.simulated": "list of inputs that are simulated",
    "meta.sources": "attribution line per input",
    "momentum.long_ret_pct": "long (winners) basket return on the day, percent",
    "momentum.short_ret_pct": "short (losers) basket return on the day, percent",
    "momentum.ls_ret_pct": "long minus short return, percent",
    "momentum.ls_z": "L/S return / trailing 252-session standard deviation",
    "momentum.ls_pctile": "percent of all L/S days in history at or below today's",
    "momentum.ls_drawdown_pct": "L/S drawdown from its running peak, percent",
    "momentum.regime": "crash / rally / quiet (NOTE_SPEC regime rule)",
    "momentum.move_class": "normal / notable (>=2 sigma) / crash (>=3) / extreme (>=4), by |z|",
    "momentum.history": "event study: panel (2016-) and UMD (1926-); per horizon n, median/mean forward L/S return %, hit rate %, median peak-to-trough %",
    "momentum.worst_days": "10 worst L/S days with legs, percent",
    "rotation.breadth_pct_beating_index": "percent of members whose return beat SPY (breadth_pctile: its percentile over the past year; the 5d/20d breadth, above-50/200-day shares and RSP-SPY carry *_pctile too)",
    "rotation.ew_minus_cw_pct": "equal-weight minus cap-weight member return, percentage points (ew_minus_cw_pctile ranks it against the past year, each day with its own cap weights)",
    "rotation.sectors": "GICS sector table: n, day/5d/20d return %, z vs own past year, % up",
    "rotation.industry_groups": "GICS industry-group table (point-in-time sub-industry -> group), same columns as sectors",
    "rotation.themes": "theme table, same columns; sufficient=false when < 3 usable members",
    "rotation.out_of": "3 groups with the lowest z (money left)",
    "rotation.into": "3 groups with the highest z (money entered)",
    "letf.rebalance_total_usd": "net estimated LETF rebalancing flow, USD (negative = selling)",
    "letf.rebalance_sell_usd": "sum of selling funds, USD",
    "letf.rebalance_buy_usd": "sum of buying funds, USD",
    "letf.by_underlying": "flow by underlying proxy, USD",
    "letf.top_stocks": "top 15 stocks by passed-through flow, USD",
    "letf.gamma_per_1pct_usd": "LETF flow per +1% move in all underlyings, USD",
    "letf.scenarios": "flow for uniform moves of +-1/2/3/5%, USD",
    "letf.aum_as_of": "age of the AUM anchors",
    "flows.retail_intensity_pctile": "retail net buying intensity, percentile vs past 252 sessions",
    "flows.inst_intensity_pctile": "institutional net buying intensity percentile",
    "flows.retail_timing": "share of retail net flow per intraday bucket, percent",
    "flows.inst_timing": "share of institutional net flow per bucket, percent",
    "flows.overlap_long": "retail favourites in the momentum long leg (count, weight %)",
    "flows.overlap_short": "retail favourites in the short leg",
    "flows.jan_fm_corr": "correlation across years of January vs Feb-Mar returns of the favourite proxy basket",
    "flows.simulated": "true when the flow figures come from simulated data",
}

REQUIRED = {
    "meta": ["date", "provider", "data_as_of", "version", "schema", "flags", "simulated", "sources"],
    "momentum": ["long_ret_pct", "short_ret_pct", "ls_ret_pct", "ls_z", "ls_pctile", "ls_drawdown_pct", "regime", "history", "worst_days"],
    "rotation": ["breadth_pct_beating_index", "ew_minus_cw_pct", "sectors", "themes", "out_of", "into"],
    "letf": ["rebalance_total_usd", "rebalance_sell_usd", "rebalance_buy_usd", "by_underlying", "top_stocks", "gamma_per_1pct_usd", "scenarios", "aum_as_of"],
    "flows": ["jan_fm_corr", "simulated", "available"],
}


class FactsError(ValueError):
    """The facts record is incomplete or holds a non-finite number."""


def _walk(obj: Any, path: str):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, obj


def validate_facts(facts: dict) -> dict:
    """Check schema version, required keys and that every number is finite.

    Returns the record unchanged; raises :class:`FactsError` naming the first problem.
    """
    if facts.get("meta", {}).get("schema") != SCHEMA_VERSION:
        raise FactsError(f"facts schema {facts.get('meta', {}).get('schema')!r} is not {SCHEMA_VERSION!r}")
    for section, keys in REQUIRED.items():
        if section not in facts:
            raise FactsError(f"facts: section {section!r} missing")
        missing = [k for k in keys if k not in facts[section]]
        if missing:
            raise FactsError(f"facts: {section} lacks {missing}")
    for path, value in _walk(facts, "facts"):
        if isinstance(value, float) and not math.isfinite(value):
            raise FactsError(f"{path} is {value}")
    return facts


def build_facts(meta: dict, momentum: dict, rotation: dict, letf: dict, flows: dict) -> dict:
    """Assemble and validate the record."""
    return validate_facts({"meta": {**meta, "schema": SCHEMA_VERSION}, "momentum": momentum, "rotation": rotation, "letf": letf, "flows": flows})
