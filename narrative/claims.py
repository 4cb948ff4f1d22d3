"""Read an edition back against its facts: every claim the text makes must hold.

Written apart from the plan and the message catalog on purpose: it does not ask the plan what it
meant, it reads the finished sentences (English, 繁, 简) and recomputes each condition from the
record's figures: direction words against signs, "led by" against the legs' shares, "into" and
"out of" against the index, "only" against the size of the move, percentiles against the
extremes, history against its rule, seasonal and watch lines against the calendar and the side
of the move, simulated labels, internal names, and the arithmetic of gamma against the
scenario. ``check`` returns the contradictions found (empty when the edition is true).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from nightdesk.facts.record import FactsRecord

NUM = r"(\d[\d,]*\.\d|\d[\d,]*)"
LEAD_SHARE = 0.6  # NOTE_SPEC: a leg leads with at least 60% of the L/S move


@dataclass(frozen=True)
class Edition:
    """The text of one edition, by part (a composed :class:`~nightdesk.narrative.compose.Note`)."""

    lang: str
    title: str
    headline: str
    takeaways: list[str]
    sections: dict[str, list[str]]
    bottom_line: list[str]
    captions: list[str]

    @property
    def body(self) -> str:
        return "\n".join([self.title, self.headline, *self.takeaways, *(p for ps in self.sections.values() for p in ps),
                          *self.bottom_line, *self.captions])


class NarrativeError(ValueError):
    """An edition says something its facts contradict: the note is not published."""


def verify(f: FactsRecord, notes: dict) -> None:
    """Read every composed edition back against ``f``; :class:`NarrativeError` lists the first
    contradictions (the nightly run and the backfill publish nothing rather than a false note)."""
    problems = [p for note in notes.values() for p in check(f, edition_of(note))]
    if problems:
        raise NarrativeError(f"note for {f.meta.date} contradicts its facts ({len(problems)}): " + "; ".join(problems[:3]))


def edition_from_text(lang: str, text: str) -> Edition:
    """A plain-text edition (e.g. a snapshot of an older note), read as one body."""
    lines = text.splitlines()
    return Edition(lang=lang, title=lines[0] if lines else "", headline="", takeaways=[], sections={"all": lines[1:]}, bottom_line=[], captions=[])


def edition_of(note) -> Edition:
    """The parts of a composed note the checker reads."""
    return Edition(lang=note.lang, title=note.title, headline=note.headline, takeaways=list(note.takeaways),
                   sections={s.key: [*s.paragraphs, *([s.watch] if s.watch else [])] for s in note.sections},
                   bottom_line=list(note.bottom_line), captions=list(note.captions.values()))


def _f(x: str) -> float:
    return float(x.replace(",", ""))


def _r1(x: float) -> float:
    return round(abs(x), 1)


def _share_long(f: FactsRecord) -> float:
    m = f.momentum
    ls = m.long_ret_pct - m.short_ret_pct
    return m.long_ret_pct / ls if ls else 0.5


def _direction_ok(word_neg: bool, value: float) -> bool:
    return value < 0 if word_neg else value > 0


def check(f: FactsRecord, e: Edition) -> list[str]:
    """Every contradiction between ``e`` and ``f`` (empty list: none found)."""
    out: list[str] = []
    zh = e.lang != "en"
    text = e.body
    m, r, l, fl, t = f.momentum, f.rotation, f.letf, f.flows, f.story.thresholds
    idx = m.index_ret_pct

    def bad(msg: str) -> None:
        out.append(f"{e.lang}: {msg}")

    # L/S direction and size
    pat = r"多空動?[能量动]组?組?合(下跌|上漲|上涨)" + NUM + "%" if zh else r"L/S momentum (fell|rose) " + NUM + "%"
    for word, num in re.findall(pat, text):
        neg = word in ("fell", "下跌")
        if not _direction_ok(neg, m.ls_ret_pct) or _f(num) != _r1(m.ls_ret_pct):
            bad(f"L/S said to have {word} {num}% but moved {m.ls_ret_pct:+.2f}%")
    # the index: direction, size, 'only', 'flat'
    pat = r"大[盤盘](僅|仅)?(下跌|上漲|上涨)" + NUM + "%" if zh else r"[Tt]he index(?:, which)? (fell|rose)( only)? " + NUM + "%"
    for a, b, num in re.findall(pat, text):
        word, only = (b, a) if zh else (a, b)
        if not _direction_ok(word in ("fell", "下跌"), idx) or _f(num) != _r1(idx):
            bad(f"index said to have {word} {num}% but moved {idx:+.2f}%")
        if only and abs(idx) >= t.flat_index_pct:
            bad(f"'only' for an index move of {idx:+.2f}%")
    if re.search(r"[Tt]he index was flat|大[盤盘]持平", text) and _r1(idx) != 0:
        bad(f"index called flat at {idx:+.2f}%")
    if re.search(r"index little changed|大[盤盘]變動有限|大盘变动有限", text) and abs(idx) >= t.flat_index_pct:
        bad(f"index called little changed at {idx:+.2f}%")
    # which leg led
    share = _share_long(f)
    long_led, short_led = share >= LEAD_SHARE, (1 - share) >= LEAD_SHARE
    sentences = [x for x in re.split(r"(?<=。)|(?<=\.)\s+(?=[A-Z])|\n", text) if x]
    cw_sentences = [x for x in sentences if x.startswith(("Cap-weighted", "若以市值加"))]
    for sent in cw_sentences:
        cw = m.cap_weighted
        if cw is None:
            bad("cap-weighted figures without cap-weighted baskets")
            continue
        ls_cw = cw.long_ret_pct - cw.short_ret_pct
        cw_share = cw.long_ret_pct / ls_cw if ls_cw else 0.5
        if re.search(r"long leg carrying|多[頭头](部位|组合)[佔占]", sent) and cw_share < LEAD_SHARE:
            bad(f"cap-weighted long leg said to lead with {100 * cw_share:.0f}%")
        if re.search(r"short leg carrying|空[頭头](部位|组合)[佔占]", sent) and 1 - cw_share < LEAD_SHARE:
            bad(f"cap-weighted short leg said to lead with {100 * (1 - cw_share):.0f}%")
        if re.search(r"both legs sharing|兩端貢獻相當|两端贡献相当", sent) and (cw_share >= LEAD_SHARE or 1 - cw_share >= LEAD_SHARE):
            bad(f"cap-weighted legs said to share a move one leg carried ({100 * cw_share:.0f}% long)")
    text_ew = "\n".join(x for x in sentences if x not in cw_sentences)
    said_long = re.search(r"led by the long leg|long leg carried|多[頭头](部位|组合)[為为]主要|多[頭头](部位|组合)[貢贡][獻献][這这]次", text_ew)
    said_short = re.search(r"led by the short leg|short leg carried|空[頭头](部位|组合)逆[勢势]上[漲涨][為为]主因|空[頭头](部位|组合)下跌[為为]主要|空[頭头](部位|组合)[為为]主要|空[頭头](部位|组合)[貢贡][獻献][這这]次", text_ew)
    said_both = re.search(r"both legs sharing|legs split the move evenly|兩端貢獻相當|两端贡献相当|兩端平均分攤|两端平均分摊", text_ew)
    if said_long and not long_led:
        bad(f"long leg said to lead with {100 * share:.0f}% of the move")
    if said_short and not short_led:
        bad(f"short leg said to lead with {100 * (1 - share):.0f}% of the move")
    if said_both and (long_led or short_led):
        bad(f"both legs said to share a move one leg carried ({100 * share:.0f}% long)")
    for word, a, b, leg, _ in re.findall(r"Both legs (fell|rose) \(long leg ([−+]?[\d.]+)%, short leg ([−+]?[\d.]+)%\); the (long|short) leg (fell|rose) further", text):
        neg = word == "fell"
        if not (_direction_ok(neg, m.long_ret_pct) and _direction_ok(neg, m.short_ret_pct)):
            bad(f"both legs said to have {word} (long {m.long_ret_pct:+.2f}%, short {m.short_ret_pct:+.2f}%)")
        if (leg == "long") != (abs(m.long_ret_pct) > abs(m.short_ret_pct)):
            bad(f"the {leg} leg said to have moved further (long {m.long_ret_pct:+.2f}%, short {m.short_ret_pct:+.2f}%)")
    for word in re.findall(r"多空兩端同步(下跌|上漲)|多空两端同步(下跌|上涨)", text):
        neg = "下跌" in word
        if not (_direction_ok(neg, m.long_ret_pct) and _direction_ok(neg, m.short_ret_pct)):
            bad(f"both legs said to have moved one way (long {m.long_ret_pct:+.2f}%, short {m.short_ret_pct:+.2f}%)")
    # LETF direction
    sells = re.search(r"LETFs sold|had to sell|of selling at the close|net \S+ of selling|淨賣出\d|净卖出\d", text)
    buys = re.search(r"LETFs bought|ETFs buy|had to buy|of buying at the close|net \S+ of buying|淨買入\d|净买入\d", text)
    if sells and l.rebalance_total_usd > 0:
        bad(f"LETF selling said on a net buying day ({l.rebalance_total_usd:+.3g})")
    if buys and l.rebalance_total_usd < 0:
        bad(f"LETF buying said on a net selling day ({l.rebalance_total_usd:+.3g})")
    # percentiles: never at the extremes (a rank there), never 0th / 100th
    for num in re.findall(r"(\d+)(?:st|nd|rd|th) percentile" if not zh else r"第(\d+)百分位", text):
        p = int(num)
        if p <= t.extreme_rank_pctile or p >= 100 - t.extreme_rank_pctile:
            bad(f"{p}th percentile printed where a rank belongs")
    # seasonal and 'further'
    month = f.meta.date.month
    if re.search(r"tax-season|報稅季|报税季", text) and not (month == 3 or (month == 4 and f.meta.date.day <= 15)):
        bad(f"tax-season line on {f.meta.date} (month {month})")
    if re.search(r"January returns|1月.{0,6}(報酬|收益).{0,4}與2至3月", text) and month not in (12, 1, 2):
        bad(f"January-effect line in month {month}")
    if re.search(r"An up close|大[盤盘]收[漲涨]", text) and not round(idx, 1) > 0:
        bad(f"'an up close' on an index move of {idx:+.2f}%")
    if re.search(r"a further \S+ fall|若單日再跌|若单日再跌", text) and not round(idx, 1) < 0:
        bad(f"'a further fall' after an index move of {idx:+.2f}%")
    # history: only when today meets the rule, with the study's n and start
    hist = m.history.panel
    for n, year in re.findall(r"(?i)after (\d+) similar days since (\d{4})", text):
        if hist is None or not hist.today_qualifies or int(n) != hist.n_events or int(year) != hist.since_year:
            bad(f"history of {n} days since {year} does not match the event study")
    for year, n in re.findall(r"(\d{4})年以[來来]共(\d+)次[類类]似", text):
        if hist is None or not hist.today_qualifies or int(n) != hist.n_events or int(year) != hist.since_year:
            bad(f"history of {n} days since {year} does not match the event study")
    # watch lines quote their level from the right side
    if re.search(r"a second (day beyond )?−\S*σ|another day of L/S beyond −|是否再現逾|是否再现逾|是否再出現單日跌幅|是否再出现单日跌幅", text) and m.ls_z > -t.momentum_z:
        bad(f"crash watch line at L/S z {m.ls_z:+.2f}")
    for level in re.findall(r"breadth holds above (\d+)%|市場廣度能否維持在(\d+)%以上", text):
        lv = float(next(x for x in level if x))
        if breadth_now(f) < lv:
            bad(f"watch line 'breadth holds above {lv:.0f}%' with breadth at {breadth_now(f):.1f}%")
    med = hist.horizons["21"].median_pct if hist is not None else None
    for phrase, ok in (("tended to keep falling", lambda x: x < 0), ("tended to recover", lambda x: x > 0), ("tended to keep rising", lambda x: x > 0),
                       ("tended to give back gains", lambda x: x < 0)):
        if phrase in text and (med is None or not ok(med) or abs(med) < t.history_direction_pct):
            bad(f"'{phrase}' with a one-month median of {med}")
    for name, word, num in re.findall(r"long leg is [\d.]+% ([A-Z][A-Za-z &]+), which (fell|rose) ([\d.]+)% on the day", text):
        row = next((g for g in r.sectors if g.key == name or _sector_en(g.key) == name), None)
        if row is None or row.ret_1d_pct is None or not _direction_ok(word == "fell", row.ret_1d_pct) or _f(num) != _r1(row.ret_1d_pct):
            bad(f"{name} said to have {word} {num}% (facts: {None if row is None else row.ret_1d_pct})")
    if re.search(r"shows little link|幾無關聯|几无关联", text) and not (fl.jan_fm_corr is not None and abs(fl.jan_fm_corr) < 0.3):
        bad(f"'little link' at a correlation of {fl.jan_fm_corr}")
    # readings only under their rules
    breadth = r.breadth_pct_beating_index
    crash = m.ls_z <= -t.momentum_z
    if re.search(r"de-grossing|降低總曝險|降低总敞口", text) and not (crash and long_led and abs(idx) < t.flat_index_pct and breadth >= t.broad_breadth_pct):
        bad("de-grossing reading without its rule")
    if re.search(r"short squeeze|空頭回補|空头回补", text) and not (crash and short_led):
        bad("short-squeeze reading without its rule")
    word = re.search(r"The move was (small|notable|sharp|extreme)|屬(小幅|明顯|大幅|極端)變動|属(小幅|明显|大幅|极端)变动", text)
    if word:
        said = next(g for g in word.groups() if g)
        a = abs(m.ls_z)
        want = "extreme" if a >= 3 else "sharp" if a >= 2 else "notable" if a >= 1 else "small"
        zh_words = {"小幅": "small", "明顯": "notable", "明显": "notable", "大幅": "sharp", "極端": "extreme", "极端": "extreme"}
        if zh_words.get(said, said) != want:
            bad(f"move called {said} at |z| {a:.2f}")
    # breadth contrasts
    if re.search(r", yet \S+ of members beat it|，但\S+成分股跑[贏赢]大[盤盘]", text) and not (idx < 0 and breadth >= 50):
        bad(f"'yet' contrast with index {idx:+.2f}% and breadth {breadth:.1f}%")
    if re.search(r"but only \S+ of members kept pace|僅\S+成分股跟上|仅\S+成分股跟上", text) and not (idx > 0 and breadth < 50):
        bad(f"'only kept pace' with index {idx:+.2f}% and breadth {breadth:.1f}%")
    ew = re.search(r"Equal-weight (beat|lagged) cap-weight|等[權权]重(領先|领先|落後|落后)市值加[權权]", text)
    if ew and r.ew_minus_cw_pct is not None:
        beat = ew.group(1) or ew.group(2)
        if (beat in ("beat", "領先", "领先")) != (r.ew_minus_cw_pct >= 0) or abs(r.ew_minus_cw_pct) < 0.05:
            bad(f"equal-weight said to have {beat} cap-weight at {r.ew_minus_cw_pct:+.2f}pp")
    if re.search(r"cap-weight finished level|市值加[權权]表現持平|市值加[權权]表现持平", text) and r.ew_minus_cw_pct is not None and abs(r.ew_minus_cw_pct) >= 0.05:
        bad(f"equal- and cap-weight said to finish level at {r.ew_minus_cw_pct:+.2f}pp")
    # groups: into = beat the index, out of = lagged it; 'fell least / most' only when all fell
    out.extend(f"{e.lang}: {x}" for x in _groups(f, e))
    # flows: simulated labels, and never simulated figures up front
    if fl.available and fl.simulated and "flows" in e.sections:
        flows_text = " ".join(e.sections.get("flows", []))
        if not re.search(r"simulated|模擬|模拟", flows_text):
            bad("simulated flows without the label")
    if not fl.simulated and re.search(r"simulated|模擬|模拟", " ".join(e.sections.get("flows", []))):
        bad("real flows labelled simulated")
    front = "\n".join([e.title, e.headline, *e.takeaways])
    if re.search(r"[Rr]etail|散[戶户]|[Ii]nstitution|機構|机构", front):
        bad("flow figures (simulated) in the title, headline or takeaways")
    p = fl.retail_intensity_pctile
    if re.search(r"chased strength|追價|追涨", text) and not (p is not None and p >= 80 and f.momentum.index_ret_pct > 0):
        bad(f"'chased strength' at the {p} percentile with the index at {f.momentum.index_ret_pct:+.2f}%")
    if re.search(r"stepped back|縮手|观望", text) and not (p is not None and p <= 20):
        bad(f"'stepped back' at the {p} percentile")
    # internal names
    for word in ("facts record", "nightdesk facts", "letf_registry", "facts.json", "split like jump", "split_like", "_pct", "sample;", "inputs_key"):
        if word in text:
            bad(f"internal name {word!r} in reader text")
    # the same arithmetic: per-1% gamma and the 3% scenario
    g = re.search(r"about \$([\d.]+)(bn|mn) of trading|\$([\d.]+)(bn|mn) of buying per 1%" if not zh else r"將觸發約([\d,.]+)億美元|将触发约([\d,.]+)亿美元|每上漲1%約須買入([\d,.]+)億美元", text)
    s3 = re.search(r"3(?:\.0)?% fall next week (?:would mean|implies) about \$([\d.]+)(bn|mn)|3(?:\.0)?% fall next week implies \$([\d.]+)(bn|mn)" if not zh
                   else r"3(?:\.0)?%，估計觸發約?([\d,.]+)億美元|3(?:\.0)?%，估计触发约?([\d,.]+)亿美元", text)
    if g and s3:
        gv = _money(g, zh)
        sv = _money(s3, zh)
        if abs(sv - 3 * gv) > 0.06 * abs(sv) + 0.15e9:
            bad(f"gamma {gv:.3g} per 1% and the 3% scenario {sv:.3g} disagree")
    return out


def _sector_en(key: str) -> str:
    from nightdesk.narrative.compose import term

    return term(key, "en", "sectors")


def breadth_now(f: FactsRecord) -> float:
    return f.rotation.breadth_pct_beating_index


def _money(match: re.Match, zh: bool) -> float:
    groups = [x for x in match.groups() if x]
    if zh:
        return _f(groups[0]) * 1e8
    return _f(groups[0]) * (1e9 if groups[1] == "bn" else 1e6)


def _group_names(f: FactsRecord, lang: str) -> dict[str, list]:
    """Each sector or theme name as the edition writes it -> its rows (a name may belong to both)."""
    from nightdesk.narrative.compose import localise, term

    names: dict[str, list] = {}
    for g in [*f.rotation.sectors, *f.rotation.themes]:
        name = (g.name_en if lang == "en" else localise(g.name_zh, lang)) if hasattr(g, "name_en") else term(g.key, lang, "sectors")
        names.setdefault(name, []).append(g)
    return names


def _split(names: str, zh: bool) -> list[str]:
    if zh:
        return [x for x in names.split("、") if x]
    parts = re.split(r", | and ", names)
    return [x.strip() for x in parts if x.strip()]


def _groups(f: FactsRecord, e: Edition) -> list[str]:
    zh = e.lang != "en"
    idx = f.momentum.index_ret_pct
    by_name = _group_names(f, e.lang)
    problems = []
    text = e.body

    def rows(chunk: str) -> list:
        found = []
        chunk = re.sub(r"表[現现]$", "", chunk)  # '...表現最強' also reads as '...最強'
        for name in _split(chunk, zh):
            if name not in by_name:
                problems.append(f"unknown group {name!r}")
                continue
            found.extend(by_name[name])
        return found

    n = r"([^()（）:：，,;；]+(?:(?:, | and |、)[^()（）:：，,;；]+)*?)"  # a list of names: no brackets, no clause breaks
    if zh:
        into_pats = [r"，" + n + r"表[現现]最[強强]（", r"），" + n + r"相[對对]抗跌（", r"，" + n + r"最[強强]（"]
        out_pats = [r"，" + n + r"表[現现]最弱（", r"，" + n + r"最弱（", r"），" + n + r"相[對对]落[後后]（"]
        title_into = [r"：" + n + r"[強强][於于]", r"[資资]金流向" + n + r"$"]
        title_out = [r"[強强][於于]" + n + r"$", r"：" + n + r"遭[調调][節节]"]
    else:
        into_pats = [r", " + n + r" were strongest \(z up to", r"\) and " + n + r" strongest \(z up to", r"\) and " + n + r" held up best \(z up to"]
        out_pats = [r", " + n + r" were weakest \(z as low as", r"\) and " + n + r" lagged \(z as low as"]
        title_into = [r"Momentum extends: " + n + r" bid", r"Rotation: " + n + r" over "]
        title_out = [r"Momentum unwind: " + n + r" sold", r" over " + n + r"$"]
    lines = text.splitlines()
    into = [x for pat in into_pats for line in lines for x in re.findall(pat, line)] + [x for pat in title_into for x in re.findall(pat, e.title)]
    outs = [x for pat in out_pats for line in lines for x in re.findall(pat, line)] + [x for pat in title_out for x in re.findall(pat, e.title)]
    # 'most'/'least' lists are where money went relative to the index too; their absolute sign is checked below
    for chunk in into:
        for g in rows(chunk):
            if g.ret_1d_pct is None or g.ret_1d_pct <= idx:
                problems.append(f"{g.key} said to have drawn money in at {g.ret_1d_pct}% against the index's {idx:+.2f}%")
    for chunk in outs:
        for g in rows(chunk):
            if g.ret_1d_pct is None or g.ret_1d_pct >= idx:
                problems.append(f"{g.key} said to have lost money at {g.ret_1d_pct}% against the index's {idx:+.2f}%")
    fell = re.findall(r"every group shown fell|所列族群全面下跌|所列板块全面下跌", text)
    rose = re.findall(r"every group shown rose|所列族群全面上漲|所列板块全面上涨", text)
    shown = [g for chunk in into + outs for g in rows(chunk)]
    if fell and any(g.ret_1d_pct is not None and g.ret_1d_pct >= 0 for g in shown):
        problems.append("'every group fell' with a group that rose")
    if rose and any(g.ret_1d_pct is not None and g.ret_1d_pct <= 0 for g in shown):
        problems.append("'every group rose' with a group that fell")
    return problems
