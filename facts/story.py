"""The story of the day: one primary story per session, from the figures and the thresholds in
settings (NOTE_SPEC, story of the day). Pure: typed sections in, a :class:`Story` out; the note
takes its title, headline, takeaway order, paragraphs, history and watch lines from it.

| primary | rule (defaults) |
|---|---|
| momentum_crash | L/S z <= -2 |
| momentum_rally | L/S z >= +2 |
| index_selloff | index <= -2% and abs(L/S z) < 2 |
| index_rally | index >= +2% and abs(L/S z) < 2 |
| rotation_day | none of the above, and breadth at or beyond its 5th/95th percentile of the past year, or a sector or theme with abs(z) >= 2.5 |
| quiet | everything else |

``index_move`` records an index move beyond the threshold whatever momentum did, so stories
combine: a momentum crash on an index rally is a junk rally.
"""
from __future__ import annotations

from nightdesk.facts.record import Lead, Momentum, Rotation, Story, StoryThresholds
from nightdesk.settings import StorySettings


def intensity(z: float) -> str:
    """The spec's ladder by |z|: small (< 1), notable (1-2), sharp (2-3), extreme (>= 3).

    Examples
    --------
    >>> [intensity(z) for z in (0.4, -1.5, 2.0, -4.7)]
    ['small', 'notable', 'sharp', 'extreme']
    """
    a = abs(z)
    return "extreme" if a >= 3 else "sharp" if a >= 2 else "notable" if a >= 1 else "small"


def lead(long_ret_pct: float, short_ret_pct: float, share_pct: float) -> Lead:
    """Which leg carried the L/S move (L/S = long - short): the long leg's share is
    ``long / (long - short)``; a leg leads with at least ``share_pct`` of the move.

    Examples
    --------
    >>> lead(-3.72, 3.74, 60).leader  # the demo day: 50% each
    'both'
    >>> lead(-5.0, 1.0, 60).leader, lead(1.0, 4.0, 60).leader
    ('long', 'short')
    """
    ls = long_ret_pct - short_ret_pct
    long_share = 100.0 * long_ret_pct / ls if ls else 50.0
    leader = "long" if long_share >= share_pct else "short" if 100.0 - long_share >= share_pct else "both"
    return Lead(leader=leader, long_share_pct=round(long_share, 6), short_share_pct=round(100.0 - long_share, 6))


def classify(m: Momentum, r: Rotation, t: StorySettings) -> Story:
    """The story of a session from its momentum and rotation sections."""
    z, idx = m.ls_z, m.index_ret_pct
    momentum_move = "crash" if z <= -t.momentum_z else "rally" if z >= t.momentum_z else None
    index_move = "selloff" if idx <= -t.index_pct else "rally" if idx >= t.index_pct else None
    lo, hi = t.breadth_extreme_pctile, 100.0 - t.breadth_extreme_pctile
    p = r.breadth_pctile
    breadth_extreme = None if p is None else "narrow" if p <= lo else "broad" if p >= hi else None
    groups = [g for g in [*r.sectors, *r.themes] if g.sufficient and g.z is not None and abs(g.z) >= t.group_z]
    group_extreme = max(groups, key=lambda g: abs(g.z)).key if groups else None
    if momentum_move:
        primary = f"momentum_{momentum_move}"
    elif index_move:
        primary = f"index_{index_move}"
    elif breadth_extreme or group_extreme:
        primary = "rotation_day"
    else:
        primary = "quiet"
    ew = lead(m.long_ret_pct, m.short_ret_pct, t.lead_share_pct)
    cw = lead(m.cap_weighted.long_ret_pct, m.cap_weighted.short_ret_pct, t.lead_share_pct) if m.cap_weighted else None
    reading = None
    if momentum_move == "crash" and ew.leader == "long" and abs(idx) < t.flat_index_pct and r.breadth_pct_beating_index >= t.broad_breadth_pct:
        reading = "de_grossing"
    elif momentum_move == "crash" and ew.leader == "short":
        reading = "short_squeeze"
    elif primary == "index_selloff":
        reading = "beta_selloff"
    elif primary == "index_rally":
        reading = "beta_rally"
    return Story(
        primary=primary,
        momentum_move=momentum_move,
        index_move=index_move,
        intensity=intensity(z),
        lead=ew,
        lead_cap_weighted=cw,
        leaders_disagree=cw is not None and cw.leader != ew.leader,
        reading=reading,
        breadth_extreme=breadth_extreme,
        group_extreme=group_extreme,
        thresholds=StoryThresholds(**t.model_dump()),
    )
