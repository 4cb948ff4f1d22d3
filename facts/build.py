"""The facts layer's one entry point: the facts records of one date or many.

:func:`compute_many` takes each date's :class:`~nightdesk.marketdata.base.MarketData` and gives
each date its :class:`~nightdesk.facts.record.FactsRecord` (or the exception that stopped it);
:func:`compute` is the same for one date, raising. Which dates share one pass over their
history is decided here and nowhere else: the result for a date never depends on which other
dates were asked for (tested).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nightdesk import __version__
from nightdesk.facts import sections as sec
from nightdesk.facts.gate import Gate, gate
from nightdesk.facts.record import FactsRecord, Momentum, Rotation, validate, validate_section
from nightdesk.facts.story import classify
from nightdesk.marketdata.base import MarketData
from nightdesk.marketdata.staleness import stale_inputs
from nightdesk.settings import Settings
from nightdesk.tables import load_gics, load_themes


def compute(md: MarketData, settings: Settings) -> FactsRecord:
    """The facts record of one date (:func:`compute_many` of a list of one).

    Raises
    ------
    DataQualityError, FactsError
        The data cannot support a note for the date (the message says why).
    """
    result = compute_many([md], settings)[md.date]
    if isinstance(result, Exception):
        raise result
    return result


def compute_many(mds: Sequence[MarketData], settings: Settings) -> dict[dt.date, FactsRecord | Exception]:
    """The facts records of many dates, each equal to what :func:`compute` gives it alone.

    Momentum baskets, rotation panels, the January study, the flows section and the LETF
    section's caps and member masks are computed once per group of dates that share their
    history (:func:`history_groups`); a date that cannot be computed gets its exception and the
    others go on.
    """
    by_day = {md.date: md for md in sorted(mds, key=lambda m: m.date)}
    gates: dict[dt.date, Gate] = {}
    out: dict[dt.date, FactsRecord | Exception] = {}
    for d, md in by_day.items():
        try:
            gates[d] = gate(md)
        except Exception as exc:  # noqa: BLE001 - reported per date
            out[d] = exc
    for group in history_groups(by_day, gates):
        try:
            out.update(_group_records([by_day[d] for d in group], [gates[d] for d in group], settings))
        except Exception as exc:  # noqa: BLE001 - e.g. one date short of history: alone, each date says which and why
            if len(group) == 1:
                out[group[0]] = exc
                continue
            for d in group:
                try:
                    out.update(_group_records([by_day[d]], [gates[d]], settings))
                except Exception as exc_d:  # noqa: BLE001 - reported per date
                    out[d] = exc_d
    return {md.date: out[md.date] for md in mds}


def history_groups(mds: dict[dt.date, MarketData], gates: dict[dt.date, Gate]) -> list[list[dt.date]]:
    """Dates whose analyses can be computed in one pass, in groups (a date alone is a group of one).

    The analyses are causal: over the data up to a later date, a date's rows are what its own
    data gives, provided the inputs up to the date agree. A date joins the group of the last date
    with the same history start and members when its quality-gated returns equal that date's up
    to it (the gate looks a few sessions ahead, so they can differ) and the reference caps are
    dated on or before it (market caps are rolled from the latest close on or before the
    reference date, which must not be a later one).
    """
    keyed: dict[tuple, list[dt.date]] = {}
    for d in sorted(gates):
        keyed.setdefault((mds[d].px_close.index[0], tuple(gates[d].members)), []).append(d)
    groups: list[list[dt.date]] = []
    for dates in keyed.values():
        last = dates[-1]
        ret_last, ref = gates[last].ret_1d, mds[last].reference
        ref_day = pd.to_datetime(ref["as_of"]).max() if "as_of" in ref and len(ref) else pd.Timestamp.min
        joins = [last]
        for d in dates[:-1]:
            mine, theirs = gates[d].ret_1d, ret_last.loc[: pd.Timestamp(d)]
            same = (ref_day <= pd.Timestamp(d) and mine.index.equals(theirs.index) and mine.columns.equals(theirs.columns)
                    and np.array_equal(mine.to_numpy(), theirs.to_numpy(), equal_nan=True))
            if same:
                joins.append(d)
            else:
                groups.append([d])
        groups.append(sorted(joins))
    return sorted(groups)


def _group_records(mds: list[MarketData], gates: list[Gate], settings: Settings) -> dict[dt.date, FactsRecord]:
    """Records of one history group (``mds`` in date order)."""
    h = sec.History(mds[-1], gates[-1])
    stamps = [pd.Timestamp(md.date) for md in mds]
    mom = sec.momentum_sections(h, stamps, settings.momentum.model_dump(), settings.story.momentum_z)
    legs = {t: mom[t][1] for t in stamps}
    rot = sec.rotation_sections(h, stamps, legs, load_themes(), load_gics())
    letf = sec.letf_sections(h, stamps, {t: md.options for t, md in zip(stamps, mds)})
    jan = sec.january_sections(h, stamps)
    flo = _flows_sections(mds, h.members, stamps, legs, jan)
    return {md.date: _record(md, g, mom[t][0], rot[t], letf[t], flo[t], settings) for md, g, t in zip(mds, gates, stamps)}


def _record(md: MarketData, g: Gate, momentum: dict, rotation: dict, letf: dict, flows: dict, settings: Settings) -> FactsRecord:
    """The validated record, with the story of the day classified from its sections."""
    name = f"facts for {md.date}"
    m, r = validate_section(Momentum, momentum, name=name), validate_section(Rotation, rotation, name=name)
    story = classify(m, r, settings.story).model_dump(mode="json")
    return validate({"meta": _meta(md, g, settings), "story": story, "momentum": momentum, "rotation": rotation, "letf": letf, "flows": flows}, name=name)


def _flows_sections(mds: list[MarketData], members: list[str], days: list[pd.Timestamp], legs: dict, january: dict) -> dict:
    """The flows section of a group's dates: their windows of flow records joined into one frame
    and filtered to the members once (each date still reads only its own window); dates whose
    windows cannot be joined (one without records, windows that do not overlap) alone."""
    frames = [md.flows for md in mds]
    if len(mds) > 1 and not any(f is None or f.empty or md.flows_simulated != mds[0].flows_simulated for f, md in zip(frames, mds)):
        seam = frames[0]["date"].max()
        if frames[-1]["date"].min() <= seam:
            union = pd.concat([frames[0], frames[-1][frames[-1]["date"] > seam]], ignore_index=True)
            union = union[union["ticker"].isin(members)]
            starts = {t: f["date"].min() for t, f in zip(days, frames)}
            return sec.flows_sections(union, mds[0].flows_simulated, days, legs, january, starts)
    out = {}
    for t, md in zip(days, mds):
        f = md.flows[md.flows["ticker"].isin(members)] if md.flows is not None else None
        start = {t: f["date"].min()} if f is not None and not f.empty else {t: t}
        out.update(sec.flows_sections(f, md.flows_simulated, [t], legs, january, start))
    return out


def _meta(md: MarketData, g: Gate, settings: Settings) -> dict:
    return {
        "date": md.date.isoformat(),
        "session": "regular",
        "provider": md.provider,
        "data_as_of": md.px_close.index[-1].date().isoformat(),
        "version": __version__,
        "flags": g.flags,
        "simulated": ["flows"] if md.flows_simulated else [],
        "sources": md.sources,
        "members": len(g.members),
        "survivorship_biased": md.survivorship_biased,
        "as_of": {k: v.isoformat() for k, v in md.as_of.items()},
        "stale_inputs": [dataclasses.asdict(x) for x in stale_inputs(md.as_of, md.date, settings.staleness.model_dump())],
    }
