"""What the note says, decided once for every language: the plan of an edition.

Each function picks messages (keys of ``narrative/messages.toml``) and the facts they quote,
and every choice is a guard on the facts: direction words from the sign of the figure they
describe, "led by" from the leg's share of the move, "into"/"out of" from the group's return
against the index, "only" from the size of the index move, history only when today meets its
event rule, seasonal lines only in their months, watch levels only from their side. The
language files hold words; this module holds no words and computes no figure.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from nightdesk.facts.record import EventRule, EventStudy, FactsRecord, GroupRow, RankedRow

# ---------------------------------------------------------------- values a message quotes


@dataclass(frozen=True)
class Pct:
    """A percentage; ``signed=False`` after a direction word (fell 3.6%)."""

    v: float
    signed: bool = True


@dataclass(frozen=True)
class Pp:
    """Percentage points."""

    v: float
    signed: bool = True


@dataclass(frozen=True)
class Sigma:
    """Standard deviations; ``prose`` after a direction word (zh: 4.7個標準差); ``signed=False`` for a band (±2.0σ)."""

    v: float
    prose: bool = False
    signed: bool = True


@dataclass(frozen=True)
class Usd:
    v: float
    signed: bool = False


@dataclass(frozen=True)
class Int:
    v: int


@dataclass(frozen=True)
class Year:
    v: int


@dataclass(frozen=True)
class Corr:
    v: float | None


@dataclass(frozen=True)
class Ordinal:
    """A percentile as a position: 9th / 第9."""

    v: float


@dataclass(frozen=True)
class Nth:
    """A rank: en ``5th-largest``, zh ``5``; ``word`` is the English superlative."""

    k: int
    word: str


@dataclass(frozen=True)
class Group:
    """A sector or theme by its row."""

    row: GroupRow


@dataclass(frozen=True)
class Sector:
    key: str


@dataclass(frozen=True)
class Underlying:
    proxy: str


@dataclass(frozen=True)
class Literal_:
    """Text that is the same in every language (a ticker)."""

    s: str


@dataclass(frozen=True)
class Date:
    d: dt.date


@dataclass(frozen=True)
class Term:
    """A glossary term."""

    key: str


@dataclass(frozen=True)
class Entry:
    """An entry of another glossary table (sources, checks)."""

    table: str
    key: str


@dataclass(frozen=True)
class Msg:
    """A message with its values (values may be messages)."""

    key: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Join:
    """Items joined: a, b and c / a、b、c."""

    items: tuple


def m(key: str, **args) -> Msg:
    return Msg(key, args)


# ---------------------------------------------------------------- the plan


@dataclass
class SectionPlan:
    key: str
    paragraphs: list[list[Msg]]
    watch: Msg | None


@dataclass
class NotePlan:
    story: str
    story_label: Msg
    title: Msg
    headline: Msg
    takeaways: list[Msg]
    key_figures: list[tuple[Msg, object]]
    sections: list[SectionPlan]
    bottom_line: list[Msg]
    captions: dict[str, Msg]


def direction(v: float, digits: int = 1) -> str:
    """``fell`` / ``rose`` / ``flat`` for a figure as printed (``digits`` decimals)."""
    if round(abs(v), digits) == 0:
        return "flat"
    return "fell" if v < 0 else "rose"


def _dir(v: float) -> Msg:
    return m(f"words.{direction(v)}")


def _side(usd: float) -> Msg:
    return m("words.selling" if usd < 0 else "words.buying")


def _extreme(p: float | None, t: float) -> bool:
    return p is not None and (round(p) <= t or round(p) >= 100 - t)


def since_year(f: FactsRecord) -> Year:
    return Year(f.momentum.ls_since.year)


def where_since(f: FactsRecord) -> Msg:
    """Today's L/S among all days of the history: a rank at the extremes, else a percentile."""
    mo, t = f.momentum, f.story.thresholds.extreme_rank_pctile
    if _extreme(mo.ls_pctile, t):
        if mo.ls_ret_pct < 0:
            return m("words.largest_fall_1") if mo.ls_rank_low == 1 else m("words.largest_fall", k=Nth(mo.ls_rank_low, "largest"))
        return m("words.largest_rise_1") if mo.ls_rank_high == 1 else m("words.largest_rise", k=Nth(mo.ls_rank_high, "largest"))
    return m("words.pctile_moves", p=Ordinal(mo.ls_pctile))


def where_year(p: float | None, rank, t: float) -> Msg:
    """A value among its past year: a rank at the extremes, else a percentile."""
    if p is None:
        return m("words.no_pctile")
    if _extreme(p, t):
        if round(p) <= t:
            return m("words.lowest_year_1") if rank.low == 1 else m("words.lowest_year", k=Nth(rank.low, "lowest"))
        return m("words.highest_year_1") if rank.high == 1 else m("words.highest_year", k=Nth(rank.high, "highest"))
    return m("words.pctile_year", p=Ordinal(p))


def beat_index(rows: list[RankedRow], idx: float, *, beat: bool) -> list[RankedRow]:
    """Groups that beat (``beat``) or lagged the index on the day: into vs out of."""
    return [r for r in rows if r.ret_1d_pct is not None and ((r.ret_1d_pct > idx) if beat else (r.ret_1d_pct < idx))]


def _names(rows: list) -> Join:
    return Join(tuple(Group(r) for r in rows))


# ---------------------------------------------------------------- title, headline, takeaways


def _letf_clause(f: FactsRecord) -> Msg:
    total = f.letf.rebalance_total_usd
    return m("headline.letf_sold" if total < 0 else "headline.letf_bought", usd=Usd(total))


def _lead_clause(f: FactsRecord) -> Msg:
    leader, down = f.story.lead.leader, f.momentum.ls_ret_pct < 0
    if leader == "both":
        return m("headline.lead_both")
    return m(f"headline.lead_{leader}_{'down' if down else 'up'}")


def title(f: FactsRecord) -> Msg:
    s, r, idx = f.story, f.rotation, f.momentum.index_ret_pct
    out = beat_index(r.out_of, idx, beat=False)
    into = beat_index(r.into, idx, beat=True)
    if s.primary == "momentum_crash":
        if s.index_move == "rally":
            tag = m("title.junk_rally", idx=Pct(idx, signed=False))
        elif s.index_move == "selloff":
            tag = m("title.crash_in_selloff")
        elif s.reading == "short_squeeze":
            tag = m("title.short_squeeze")
        elif out and out[0].z is not None and out[0].z <= -s.thresholds.group_z:  # a group that really stood out
            tag = m("title.momentum_crash_named", out=Group(out[0]))
        elif _extreme(f.momentum.ls_pctile, s.thresholds.extreme_rank_pctile):
            tag = m("title.momentum_crash_rank", where=where_since(f), year=since_year(f))
        else:
            tag = m("title.momentum_crash")
    elif s.primary == "momentum_rally":
        if s.index_move == "selloff":
            tag = m("title.rally_in_selloff")
        elif s.index_move == "rally":
            tag = m("title.rally_in_rally")
        elif into and into[0].z is not None and into[0].z >= s.thresholds.group_z:
            tag = m("title.momentum_rally_named", into=Group(into[0]))
        else:
            tag = m("title.momentum_rally")
    elif s.primary in ("index_selloff", "index_rally"):
        tag = m(f"title.{s.primary}", idx=Pct(idx, signed=False))
    elif s.primary == "rotation_day":
        if into and out:
            tag = m("title.rotation_groups", into=Group(into[0]), out=Group(out[0]))
        elif s.group_extreme:
            tag = m("title.rotation_group", group=Group(_group(f, s.group_extreme)))
        else:
            tag = m(f"title.{s.breadth_extreme}_breadth")
    else:
        tag = m("title.quiet")
    return m("title.frame", desk=Term("desk"), tag=tag)


def _group(f: FactsRecord, key: str) -> GroupRow:
    return next(g for g in [*f.rotation.sectors, *f.rotation.themes] if g.key == key)


def headline(f: FactsRecord) -> Msg:
    s, mo, r = f.story, f.momentum, f.rotation
    if s.primary.startswith("momentum_"):
        return m("headline.momentum", dir=_dir(mo.ls_ret_pct), ls=Pct(mo.ls_ret_pct, signed=False), z=Sigma(mo.ls_z, prose=True),
                 lead=_lead_clause(f), letf=_letf_clause(f))
    if s.primary.startswith("index_"):
        return m("headline.index", dir=_dir(mo.index_ret_pct), idx=Pct(mo.index_ret_pct, signed=False), z=Sigma(mo.ls_z), letf=_letf_clause(f))
    if s.primary == "rotation_day" and s.group_extreme:
        g = _group(f, s.group_extreme)
        return m("headline.rotation_group", group=Group(g), dir=_dir(g.ret_1d_pct), ret=Pct(g.ret_1d_pct, signed=False), z=Sigma(g.z),
                 idx_dir=_dir(mo.index_ret_pct), idx=Pct(mo.index_ret_pct, signed=False), letf=_letf_clause(f))
    if s.primary == "rotation_day":
        return m("headline.breadth", breadth=Pct(r.breadth_pct_beating_index, signed=False),
                 where=where_year(r.breadth_pctile, r.breadth_pct_beating_index_rank, s.thresholds.extreme_rank_pctile),
                 idx_dir=_dir(mo.index_ret_pct), idx=Pct(mo.index_ret_pct, signed=False))
    return m("headline.quiet", idx_dir=_dir(mo.index_ret_pct), idx=Pct(mo.index_ret_pct, signed=False), dir=_dir(mo.ls_ret_pct),
             ls=Pct(mo.ls_ret_pct, signed=False), z=Sigma(mo.ls_z))


def history_ok(f: FactsRecord) -> EventStudy | None:
    """The panel's event study when today meets its rule and it has events (else no history line)."""
    h = f.momentum.history
    return h.panel if h.panel is not None and h.panel.today_qualifies and h.panel.n_events > 0 else None


def moves(into: list[RankedRow], out: list[RankedRow]) -> Msg:
    """Where money went among groups; 'fell least / most' when every group shown fell, 'rose
    least / most' when every one rose."""
    rows = [*into, *out]
    z_in = Sigma(into[0].z) if into else None
    z_out = Sigma(out[0].z) if out else None
    if into and out and all(r.ret_1d_pct < 0 for r in rows):
        return m("rotation.moves_all_fell", out=_names(out), into=_names(into), z_out=z_out, z_in=z_in)
    if into and out and all(r.ret_1d_pct > 0 for r in rows):
        return m("rotation.moves_all_rose", out=_names(out), into=_names(into), z_out=z_out, z_in=z_in)
    if into and out:
        return m("rotation.moves_both", out=_names(out), into=_names(into), z_out=z_out, z_in=z_in)
    return m("rotation.moves_out", out=_names(out), z_out=z_out) if out else m("rotation.moves_into", into=_names(into), z_in=z_in)


def takeaways(f: FactsRecord) -> list[Msg]:
    """3 (quiet) to 5 bullets, one figure each, in the story's order; never a simulated figure."""
    s, mo, r, l = f.story, f.momentum, f.rotation, f.letf
    idx, t = mo.index_ret_pct, s.thresholds
    k_mom = m("takeaway.momentum", ls=Pct(mo.ls_ret_pct), z=Sigma(mo.ls_z), where=where_since(f), year=since_year(f))
    k_breadth = m("takeaway.breadth", breadth=Pct(r.breadth_pct_beating_index, signed=False), idx_dir=_dir(idx), idx=Pct(idx, signed=False))
    k_letf = m("takeaway.letf", usd=Usd(l.rebalance_total_usd), side=_side(l.rebalance_total_usd))
    into, out = beat_index(r.into, idx, beat=True)[:2], beat_index(r.out_of, idx, beat=False)[:2]
    k_rot = m("takeaway.rotation", moves=moves(into, out)) if (into or out) else None
    hist = history_ok(f)
    k_hist = (m("takeaway.history", n=Int(hist.n_events), year=Year(hist.since_year), m1=Pct(hist.horizons["21"].median_pct))
              if hist is not None and hist.horizons["21"].median_pct is not None else None)
    if s.primary.startswith("momentum_"):
        items = [k_mom, k_hist, k_rot, k_breadth, k_letf]
    elif s.primary.startswith("index_"):
        items = [m("takeaway.index", dir=_dir(idx), idx=Pct(idx, signed=False), z=Sigma(mo.ls_z)), k_letf, k_breadth, k_rot, k_mom]
    elif s.primary == "rotation_day":
        if s.group_extreme:
            g = _group(f, s.group_extreme)
            lead_item = m("takeaway.group", group=Group(g), ret=Pct(g.ret_1d_pct), z=Sigma(g.z))
        else:
            lead_item = m("takeaway.rotation_breadth", breadth=Pct(r.breadth_pct_beating_index, signed=False),
                          where=where_year(r.breadth_pctile, r.breadth_pct_beating_index_rank, t.extreme_rank_pctile))
        items = [lead_item, k_rot, k_mom, k_letf]
    else:
        items = [k_mom, k_breadth, k_letf]
    return [x for x in items if x is not None][:5]


def key_figures(f: FactsRecord) -> list[tuple[Msg, object]]:
    """Page 1's box: label -> value (real figures only; the flows are left to their section)."""
    mo, r, l = f.momentum, f.rotation, f.letf
    return [
        (m("keyfig.story"), m(f"story.{f.story.primary}")),
        (m("keyfig.ls"), m("keyfig.pct_sigma", pct=Pct(mo.ls_ret_pct), z=Sigma(mo.ls_z))),
        (m("keyfig.long"), Pct(mo.long_ret_pct)),
        (m("keyfig.short"), Pct(mo.short_ret_pct)),
        (m("keyfig.index"), Pct(mo.index_ret_pct)),
        (m("keyfig.breadth"), Pct(r.breadth_pct_beating_index, signed=False)),
        (m("keyfig.letf"), Usd(l.rebalance_total_usd, signed=True)),
    ]


# ---------------------------------------------------------------- sections


def _dd(mo) -> Msg:
    year = Year(mo.ls_since.year)
    if round(mo.ls_drawdown_pct, 1) == 0:
        return m("momentum.dd_at_peak", year=year)
    return m("momentum.dd_off_peak", dd=Pct(mo.ls_drawdown_pct, signed=False), year=year)


def _rule(rule: EventRule, *, umd: bool = False) -> Msg:
    up = rule.side == "up"
    if rule.kind == "z_band":
        return m("rule.umd_band" if umd else "rule.z_band", z_from=Sigma(rule.z_from), z_to=Sigma(rule.z_to))
    if rule.kind == "z":
        return m("rule.umd_z", z=Sigma(rule.z_from)) if umd else m("rule.z_up" if up else "rule.z", z=Sigma(rule.z_from))
    if rule.long_pct is None:
        return m("rule.pct_only_up" if up else "rule.pct_only", ls=Pct(rule.ls_pct))
    return m("rule.pct_up" if up else "rule.pct", ls=Pct(rule.ls_pct), long=Pct(rule.long_pct))


def _level(f: FactsRecord, sign: float) -> Sigma:
    """The momentum story threshold on one side, as printed in watch lines (from the facts)."""
    return Sigma(sign * f.story.thresholds.momentum_z, prose=True)


def momentum_section(f: FactsRecord) -> SectionPlan:
    s, mo = f.story, f.momentum
    a = abs(mo.ls_z)
    legs = dict(long=Pct(mo.long_ret_pct), short=Pct(mo.short_ret_pct))
    p1: list[Msg] = []
    if a >= s.thresholds.momentum_z:
        p1 += [m("momentum.move_big", dir=_dir(mo.ls_ret_pct), ls=Pct(mo.ls_ret_pct, signed=False), z=Sigma(mo.ls_z, prose=True), dd=_dd(mo), **legs),
               m("momentum.intensity", word=m(f"words.{s.intensity}"), where=where_since(f), year=since_year(f))]
    elif a >= 1:
        p1.append(m("momentum.move_notable", dir=_dir(mo.ls_ret_pct), ls=Pct(mo.ls_ret_pct, signed=False), z=Sigma(mo.ls_z, prose=True), dd=_dd(mo), **legs))
    else:
        p1.append(m("momentum.move_small", ls=Pct(mo.ls_ret_pct), z=Sigma(mo.ls_z), dd=_dd(mo), **legs))
    p2: list[Msg] = []
    same_way = mo.long_ret_pct * mo.short_ret_pct > 0 and direction(mo.long_ret_pct) == direction(mo.short_ret_pct) != "flat"
    # both legs moving one way (with the market): shares above 100% would mislead, and the legs' returns are already given
    if a >= 1 and not same_way:  # which leg led means something only when the L/S move does
        lead = s.lead
        if lead.leader == "long":
            p2.append(m("momentum.lead_long", share=Pct(lead.long_share_pct, signed=False)))
        elif lead.leader == "short":
            p2.append(m("momentum.lead_short", share=Pct(lead.short_share_pct, signed=False)))
        else:
            p2.append(m("momentum.lead_both", long_share=Pct(lead.long_share_pct, signed=False), short_share=Pct(lead.short_share_pct, signed=False)))
    cw = mo.cap_weighted
    if cw is not None and cw.ls_z is not None:
        if a >= 1 and s.leaders_disagree and s.lead_cap_weighted is not None:
            lc = s.lead_cap_weighted
            cw_lead = m(f"momentum.cw_lead_{lc.leader}", share=Pct(lc.long_share_pct if lc.leader == "long" else lc.short_share_pct, signed=False))
            p2.append(m("momentum.leaders_disagree", ls=Pct(cw.ls_ret_pct), z=Sigma(cw.ls_z), cw_lead=cw_lead))
        else:
            p2.append(m("momentum.cap_weighted", ls=Pct(cw.ls_ret_pct), z=Sigma(cw.ls_z)))
    p2.append(m("momentum.horizon", d5=Pct(mo.ls_5d_pct), d20=Pct(mo.ls_20d_pct)))
    umd, mtum = mo.cross_check.umd_pct, mo.cross_check.mtum_minus_spy_pct
    if umd is not None and mtum is not None:
        p2.append(m("momentum.umd_mtum", umd=Pct(umd), mtum=Pp(mtum)))
    elif umd is not None:
        p2.append(m("momentum.umd", umd=Pct(umd)))
    elif mtum is not None:
        p2.append(m("momentum.mtum", mtum=Pp(mtum)))
    paragraphs = [p1, p2]
    if s.reading == "de_grossing":
        paragraphs.append([m("momentum.reading_de_grossing", idx=Pct(mo.index_ret_pct), breadth=Pct(f.rotation.breadth_pct_beating_index, signed=False))])
    elif s.reading == "short_squeeze":
        paragraphs.append([m("momentum.reading_short_squeeze", short=Pct(mo.short_ret_pct))])
    elif s.reading in ("beta_selloff", "beta_rally"):
        paragraphs.append([m("momentum.reading_beta", dir=_dir(mo.index_ret_pct), idx=Pct(mo.index_ret_pct, signed=False), **legs)])
    hist = history_ok(f)
    if hist is not None:
        h = hist.horizons
        p4 = [m("momentum.history", n=Int(hist.n_events), year=Year(hist.since_year), rule=_rule(hist.rule), m1=Pct(h["21"].median_pct),
                m3=Pct(h["63"].median_pct), ptt=Pct(h["63"].ptt_median_pct))]
        if hist.small_sample:
            p4.append(m("momentum.small_sample"))
        u = mo.history.umd
        if u is not None and u.n_events > 0 and u.horizons["63"].median_pct is not None:
            umd_args = dict(year=Year(u.since_year), n=Int(u.n_events), rule=_rule(u.rule, umd=True), m3=Pct(u.horizons["63"].median_pct))
            if mo.cross_check.umd_pct is not None:
                p4.append(m("momentum.history_umd", umd=Pct(mo.cross_check.umd_pct), **umd_args))
            else:
                p4.append(m("momentum.history_umd_noday", **umd_args))
        paragraphs.append(p4)
    if s.momentum_move == "crash":
        squeeze = s.lead.leader == "short" or mo.long_ret_pct >= 0  # the short leg's rally, not the leaders' fall
        watch = m("momentum.watch_crash_short" if squeeze else "momentum.watch_crash_long", level=_level(f, -1), z=Sigma(mo.ls_z), **legs)
    elif s.momentum_move == "rally":
        watch = m("momentum.watch_rally", level=_level(f, -1), z=Sigma(mo.ls_z))
    elif s.primary.startswith("index_"):
        watch = m("momentum.watch_index", level=m("words.band", x=Sigma(s.thresholds.momentum_z, signed=False)), z=Sigma(mo.ls_z))
    else:
        watch = m("momentum.watch_quiet", level=m("words.band", x=Sigma(s.thresholds.momentum_z, signed=False)), z=Sigma(mo.ls_z))
    return SectionPlan("momentum", [p for p in paragraphs if p], watch)


def rotation_section(f: FactsRecord) -> SectionPlan:
    s, mo, r = f.story, f.momentum, f.rotation
    idx, t = mo.index_ret_pct, s.thresholds
    b = r.breadth_pct_beating_index
    bw = where_year(r.breadth_pctile, r.breadth_pct_beating_index_rank, t.extreme_rank_pctile)
    common = dict(idx=Pct(idx, signed=False), breadth=Pct(b, signed=False), where=bw)
    d = direction(idx)
    if d == "flat":
        p1 = [m("rotation.index_flat", idx=Pct(idx), breadth=Pct(b, signed=False), where=bw)]
    elif d == "fell" and b >= t.broad_breadth_pct:  # a real contrast: most members beat a falling index
        p1 = [m("rotation.index_only_yet" if abs(idx) < t.flat_index_pct else "rotation.index_yet", dir=_dir(idx), **common)]
    elif d == "rose" and b < 50:
        p1 = [m("rotation.index_few", dir=_dir(idx), **common)]
    else:
        p1 = [m("rotation.index_plain", dir=_dir(idx), **common)]
    if r.ew_minus_cw_pct is not None:
        rsp = m("rotation.rsp", x=Pp(r.rsp_minus_spy_pct)) if r.rsp_minus_spy_pct is not None else m("words.empty")
        where = where_year(r.ew_minus_cw_pctile, r.ew_minus_cw_pct_rank, t.extreme_rank_pctile)
        if abs(r.ew_minus_cw_pct) < 0.05:  # prints as 0.0pp: neither beat the other
            p1.append(m("rotation.ew_cw_level", gap=Pp(r.ew_minus_cw_pct, signed=False), where=where, rsp=rsp))
        else:
            p1.append(m("rotation.ew_cw", beat=m("words.beat" if r.ew_minus_cw_pct >= 0 else "words.lagged"), gap=Pp(r.ew_minus_cw_pct, signed=False),
                        where=where, rsp=rsp))
    into, out = beat_index(r.into, idx, beat=True), beat_index(r.out_of, idx, beat=False)
    p2 = [m("rotation.groups", moves=moves(into, out))] if (into or out) else []
    p2.append(m("rotation.counts", up=Int(r.advancers), down=Int(r.decliners), p50=Pct(r.above_50d_pct, signed=False), p200=Pct(r.above_200d_pct, signed=False)))
    p3 = []
    if r.leg_sector_mix:
        top = r.leg_sector_mix[0]
        row = next((g for g in r.sectors if g.key == top.key and g.ret_1d_pct is not None), None)
        if row is not None:
            lagged = any(g.kind == "sector" and g.key == top.key for g in out)
            p3.append(m("rotation.leg_mix_out" if lagged else "rotation.leg_mix", pct=Pct(top.long_pct, signed=False), sector=Sector(top.key),
                        dir=_dir(row.ret_1d_pct), ret=Pct(row.ret_1d_pct, signed=False)))
    if s.breadth_extreme == "broad" or (s.momentum_move == "crash" and b >= t.broad_breadth_pct):
        watch = m("rotation.watch_broad", breadth=Pct(b, signed=False))
    elif s.breadth_extreme == "narrow" or b < 100 - t.broad_breadth_pct:
        watch = m("rotation.watch_narrow", breadth=Pct(b, signed=False))
    elif into:
        watch = m("rotation.watch_leader", group=Group(into[0]), z=Sigma(into[0].z))
    else:
        watch = m("rotation.watch_plain", where=bw)
    return SectionPlan("rotation", [p for p in (p1, p2, p3) if p], watch)


def letf_section(f: FactsRecord) -> SectionPlan:
    l, idx = f.letf, f.momentum.index_ret_pct
    total = l.rebalance_total_usd
    if total <= -1e9 and l.top_stocks and l.n_names_100mn > 0:
        p1 = [m("letf.sold", usd=Usd(total), n=Int(l.n_names_100mn), ticker=Literal_(l.top_stocks[0].ticker), stock_usd=Usd(l.top_stocks[0].flow_usd, signed=True))]
    elif total <= -1e9:
        p1 = [m("letf.sold_few", usd=Usd(total))]
    elif total >= 1e9:
        p1 = [m("letf.bought_up" if direction(idx) == "rose" else "letf.bought", usd=Usd(total))]
    else:
        p1 = [m("letf.small", usd=Usd(total), side=_side(total))]
    if l.by_underlying:
        top = l.by_underlying[0]
        p1.append(m("letf.largest", underlying=Underlying(top.proxy), usd=Usd(top.flow_usd, signed=True), sell=Usd(l.rebalance_sell_usd), buy=Usd(l.rebalance_buy_usd)))
    p1.append(m("letf.week", week=Usd(l.week_repeat_flow_usd, signed=True)))
    p2 = [m("letf.mechanism_down" if total < 0 else "letf.mechanism_up"), m("letf.gamma", usd=Usd(l.gamma_per_1pct_usd))]
    if l.dealer_gamma_per_1pct_usd is not None:
        p2.append(m("letf.dealer", usd=Usd(l.dealer_gamma_per_1pct_usd, signed=True), net=Usd(l.net_gamma_per_1pct_usd, signed=True)))
    else:
        p2.append(m("letf.no_dealer"))
    down3 = next((x for x in l.scenarios if x.move_pct == -3.0), None)
    watch = None
    if down3 is not None:
        key = "letf.watch_further" if direction(idx) == "fell" else "letf.watch_fall"
        watch = m(key, move=Pct(down3.move_pct, signed=False), usd=Usd(down3.flow_usd))
    return SectionPlan("letf", [p1, p2], watch)


def flows_section(f: FactsRecord) -> SectionPlan:
    fl, mo, t = f.flows, f.momentum, f.story.thresholds
    sim = m("flows.sim") if fl.simulated else m("words.empty")
    paragraphs: list[list[Msg]] = []
    if not fl.available:
        paragraphs.append([m("flows.unavailable")])
    else:
        rw = where_year(fl.retail_intensity_pctile, fl.retail_rank, t.extreme_rank_pctile)
        iw = where_year(fl.inst_intensity_pctile, fl.inst_rank, t.extreme_rank_pctile)
        args = dict(retail=rw, inst=iw, retail_when=m(f"flows.when_{fl.retail_when}"), inst_when=m(f"flows.when_{fl.inst_when}"), sim=sim)
        p = fl.retail_intensity_pctile
        if p is not None and p >= 80 and mo.index_ret_pct > 0:  # 'strength' is the index's: a winners' day in a falling market is not it
            key = "flows.chased"
        elif p is not None and p <= 20 and mo.index_ret_pct < 0:
            key = "flows.stepped_back"
        else:
            key = "flows.intensity"
        paragraphs.append([m(key, **args)])
        if fl.overlap_long is not None and fl.overlap_short is not None:
            paragraphs.append([m("flows.overlap", of=Int(fl.overlap_long.of), long=Int(fl.overlap_long.count), short=Int(fl.overlap_short.count), sim=sim)])
    day = f.meta.date
    tax_season = day.month == 3 or (day.month == 4 and day.day <= 15)  # into the 15 April filing deadline
    if day.month in (12, 1, 2) and fl.jan_fm_corr is not None:  # the January study, as a note in its season
        link = m("flows.link_weak" if abs(fl.jan_fm_corr) < 0.3 else "flows.link_some")
        paragraphs.append([m("flows.note_january", link=link, corr=Corr(fl.jan_fm_corr), n=Int(fl.jan_fm_n_years))])
    if tax_season and fl.jan_fm_corr is not None:
        watch = m("flows.watch_tax", corr=Corr(fl.jan_fm_corr), n=Int(fl.jan_fm_n_years))
    elif fl.available and fl.overlap_long is not None:
        watch = m("flows.watch_overlap", long=Int(fl.overlap_long.count), of=Int(fl.overlap_long.of), simc=m("flows.simc") if fl.simulated else m("words.empty"))
    else:
        watch = None
    return SectionPlan("flows", paragraphs, watch)


def bottom_line(f: FactsRecord) -> list[Msg]:
    """2-3 sentences: the reading and positioning, what history says, what would change the reading."""
    s, mo, l = f.story, f.momentum, f.letf
    letf = dict(letf=Usd(l.rebalance_total_usd), side=_side(l.rebalance_total_usd))
    out: list[Msg] = []
    if s.momentum_move == "crash":
        if s.reading == "de_grossing":
            out.append(m("bottom.de_grossing", **letf))
        elif s.reading == "short_squeeze":
            out.append(m("bottom.short_squeeze", **letf))
        else:
            out.append(m("bottom.unwind_long" if s.lead.leader == "long" else "bottom.unwind", **letf))
    elif s.momentum_move == "rally":
        out.append(m("bottom.rally_in_selloff", **letf) if s.index_move == "selloff" else m("bottom.crowding", ls=Pct(mo.ls_ret_pct), **letf))
    elif s.primary.startswith("index_"):
        out.append(m("bottom.beta", dir=_dir(mo.index_ret_pct), idx=Pct(mo.index_ret_pct, signed=False), z=Sigma(mo.ls_z), **letf))
    elif s.primary == "rotation_day":
        out.append(m("bottom.rotation", z=Sigma(mo.ls_z)))
    else:
        out.append(m("bottom.quiet", z=Sigma(mo.ls_z), idx=Pct(mo.index_ret_pct)))
        r, t = f.rotation, s.thresholds
        if r.breadth_pctile is not None and (r.breadth_pctile <= 10 or r.breadth_pctile >= 90):
            out.append(m("bottom.breadth_narrow" if r.breadth_pctile <= 10 else "bottom.breadth_broad", breadth=Pct(r.breadth_pct_beating_index, signed=False),
                         where=where_year(r.breadth_pctile, r.breadth_pct_beating_index_rank, t.extreme_rank_pctile)))
    hist = history_ok(f)
    if hist is not None and hist.horizons["21"].median_pct is not None:
        med = hist.horizons["21"].median_pct
        key = {("down", True): "bottom.history_down", ("down", False): "bottom.history_up",
               ("up", True): "bottom.history_rally_down", ("up", False): "bottom.history_rally_up"}[(hist.rule.side, med < 0)]
        if abs(med) < f.story.thresholds.history_direction_pct:
            key = "bottom.history_mixed"
        out.append(m(key, year=Year(hist.since_year), m1=Pct(med), n=Int(hist.n_events)))
    down, both = _level(f, -1), m("words.band", x=Sigma(f.story.thresholds.momentum_z, signed=False))
    if s.momentum_move == "crash":
        out.append(m("bottom.change_squeeze" if s.reading == "short_squeeze" else "bottom.change_crash", level=down))
    elif s.momentum_move == "rally":
        out.append(m("bottom.change_rally", level=down))
    elif s.primary.startswith("index_") or s.primary == "rotation_day":
        out.append(m("bottom.change_index", level=both))
    else:
        out.append(m("bottom.change_quiet", level=both, idx_level=m("words.band", x=Pct(f.story.thresholds.index_pct, signed=False))))
    return out


def captions(f: FactsRecord) -> dict[str, Msg]:
    """A caption for each chart the facts allow (the same conditions as the charts themselves)."""
    mo, r, l, fl = f.momentum, f.rotation, f.letf, f.flows
    out = {
        "momentum_cum": m("chart.momentum_cum", dd=_dd(mo)),
        "momentum_dist": m("chart.momentum_dist", year=since_year(f), ls=Pct(mo.ls_ret_pct), where=where_since(f)),
        "rotation_heatmap": m("chart.rotation_heatmap", dir=_dir(mo.index_ret_pct), idx=Pct(mo.index_ret_pct, signed=False)),
        "rotation_breadth": m("chart.rotation_breadth", breadth=Pct(r.breadth_pct_beating_index, signed=False)),
        "rotation_groups": m("chart.rotation_groups"),
        "letf_underlying": m("chart.letf_underlying", usd=Usd(l.rebalance_total_usd, signed=True)),
    }
    if mo.series.fwd_path_med_pct and mo.history.panel is not None:
        out["momentum_fwd"] = m("chart.momentum_fwd", n=Int(mo.history.panel.n_events), rule=_rule(mo.history.panel.rule))
    if fl.available:
        out["flows_intensity"] = m("chart.flows_intensity")
        out["flows_timing"] = m("chart.flows_timing")
    return out


def plan(f: FactsRecord) -> NotePlan:
    """The plan of every edition of ``f``'s note."""
    return NotePlan(
        story=f.story.primary,
        story_label=m(f"story.{f.story.primary}"),
        title=title(f),
        headline=headline(f),
        takeaways=takeaways(f),
        key_figures=key_figures(f),
        sections=[momentum_section(f), rotation_section(f), letf_section(f), flows_section(f)],
        bottom_line=bottom_line(f),
        captions=captions(f),
    )
