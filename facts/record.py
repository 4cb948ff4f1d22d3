"""The facts record: every figure the note, its charts, the email and the archive print.

One typed, versioned model per section (pydantic); ``facts.json`` is its dump and
``facts/schema.json`` its JSON Schema. Units are in the field names (``_pct`` percent, ``_pp``
percentage points, ``_usd`` US dollars, ``_z`` standard deviations, ``_pctile`` percentile
0-100, ``_days`` sessions); a non-finite number is refused (``allow_inf_nan=False``), so a
record that validates holds only finite figures or explicit ``null``.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = "2.0"


class FactsError(ValueError):
    """A facts record is incomplete, holds a non-finite number or cannot be read."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------- meta
class QualityFlag(_Model):
    """One observation the quality gate excluded on the note date."""

    ticker: str
    check: str = Field(description="stale_close, split_like_jump, non_session, duplicate_date, bad_value")
    detail: str


class DatedQualityFlag(_Model):
    """One excluded observation in the window, with its date."""

    ticker: str
    date: dt.date
    check: str
    detail: str


class QualityFlags(_Model):
    """What the quality gate excluded: counts over the past 252 sessions and the note date's list."""

    n_window: int
    by_check: dict[str, int]
    on_date: list[QualityFlag]
    window_sample: list[DatedQualityFlag] = Field(description="up to 20 split-like jumps of the window")


class StaleInput(_Model):
    """An input older than its limit (settings.staleness) on the note date."""

    input: str
    as_of: dt.date
    age_days: int
    limit_days: int


class Meta(_Model):
    """Where the record comes from."""

    date: dt.date = Field(description="note session")
    session: Literal["regular"]
    provider: str = Field(description="market-data provider name")
    data_as_of: dt.date = Field(description="last close used")
    version: str = Field(description="nightdesk version that computed the record")
    flags: QualityFlags
    simulated: list[str] = Field(description="inputs that are simulated (e.g. 'flows')")
    sources: dict[str, str] = Field(description="attribution line per input")
    members: int = Field(description="index members with prices on the date")
    survivorship_biased: bool = Field(description="true when the price history holds today's members only")
    as_of: dict[str, dt.date] = Field(description="the date each input describes: prices, membership, reference, letf_aum, factors, flows")
    stale_inputs: list[StaleInput] = Field(description="inputs older than their limit on the note date")
    inputs_key: str | None = Field(None, description="fingerprint of data, code and settings the note was built from")
    schema_version: str = Field(SCHEMA_VERSION, alias="schema")

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True, serialize_by_alias=True)


# ---------------------------------------------------------------- momentum
class LegReturns(_Model):
    """Long, short and L/S return of the cap-weighted cross-check baskets."""

    long_ret_pct: float
    short_ret_pct: float
    ls_ret_pct: float
    ls_z: float | None


class MomentumParams(_Model):
    lookback_days: int
    skip_days: int
    quantile: float
    min_price_usd: float
    z_window_days: int
    decluster_days: int = Field(description="sessions between two events of an event study")


class Horizon(_Model):
    """Forward L/S after the events, over one horizon."""

    n: int
    median_pct: float | None
    mean_pct: float | None
    hit_rate_pct: float | None
    ptt_median_pct: float | None = Field(description="median peak-to-trough of the L/S path within the horizon")


class Event(_Model):
    date: dt.date
    event_ret_pct: float
    fwd_21d_pct: float | None
    fwd_63d_pct: float | None
    ptt_pct: float | None


class EventRule(_Model):
    """Which past days count as events.

    pct: L/S at or beyond ``ls_pct`` and (when given) the long leg at or beyond ``long_pct``;
    z: L/S z at or beyond ``z_from`` (the pct rule found too few days); z_band: L/S z between
    ``z_from`` (included) and ``z_to``. Signed for the side: negative for falls.
    """

    kind: Literal["pct", "z", "z_band"]
    side: Literal["down", "up"]
    ls_pct: float | None
    long_pct: float | None
    z_from: float
    z_to: float | None


class EventStudy(_Model):
    """Days like today in a history, and what followed them."""

    rule: EventRule
    today_qualifies: bool = Field(description="today meets the rule (for the UMD record: today's UMD return)")
    since_year: int
    n_events: int
    horizons: dict[str, Horizon] = Field(description="sessions after the event ('21', '42', '63') -> statistics")
    events: list[Event]
    small_sample: bool = Field(description="fewer than 10 events")


class MomentumHistory(_Model):
    """Event studies that fit the day (none unless L/S z is beyond the momentum story threshold)."""

    side: Literal["down", "up"] | None
    tier: Literal["large", "band"] | None = Field(description="large: the large-move rule; band: days of today's |z| band; None: no comparable days")
    panel: EventStudy | None = Field(description="the note's own L/S baskets since the panel starts")
    umd: EventStudy | None = Field(description="Ken French UMD factor since 1926")


class Rank(_Model):
    """Where today's value ranks in its history: 1 is the lowest (``low``) or the highest (``high``)."""

    low: int
    high: int
    of: int


class WorstDay(_Model):
    date: dt.date
    ls_ret_pct: float
    long_ret_pct: float
    short_ret_pct: float


class CrossCheck(_Model):
    umd_pct: float | None
    mtum_minus_spy_pct: float | None


class MomentumSeries(_Model):
    ls_cum_dates: list[dt.date]
    ls_cum_pct: list[float]
    ls_hist_edges_pct: list[float]
    ls_hist_counts: list[int]
    fwd_path_q25_pct: list[float]
    fwd_path_med_pct: list[float]
    fwd_path_q75_pct: list[float]


class Momentum(_Model):
    """12-1 month momentum baskets of the index members on the day."""

    long_ret_pct: float
    short_ret_pct: float
    ls_ret_pct: float
    ls_z: float = Field(description="L/S return / trailing standard deviation")
    ls_pctile: float = Field(description="percent of all L/S days in history at or below today's")
    ls_drawdown_pct: float
    ls_5d_pct: float
    ls_20d_pct: float
    n_long: int
    n_short: int
    ls_rank_low: int = Field(description="1 = the lowest L/S day in the history")
    ls_rank_high: int = Field(description="1 = the highest L/S day in the history")
    n_days: int = Field(description="L/S days in the history")
    ls_since: dt.date = Field(description="first day of the L/S history")
    cap_weighted: LegReturns | None
    index_ret_pct: float
    params: MomentumParams
    history: MomentumHistory
    worst_days: list[WorstDay]
    cross_check: CrossCheck
    series: MomentumSeries


# ---------------------------------------------------------------- rotation
class GroupRow(_Model):
    """A sector, industry group or theme on the day."""

    key: str
    n: int
    ret_1d_pct: float | None
    ret_5d_pct: float | None
    ret_20d_pct: float | None
    z: float | None = Field(description="day's return vs the group's own past year")
    up_pct: float | None
    sufficient: bool = Field(description="false with too few usable members")


class ThemeRow(GroupRow):
    name_en: str
    name_zh: str


class RankedRow(GroupRow):
    kind: Literal["sector", "theme"]
    name_en: str | None = None
    name_zh: str | None = None


class EtfRow(_Model):
    key: str
    ret_1d_pct: float | None
    ret_5d_pct: float | None
    ret_20d_pct: float | None
    z: float | None


class LegSectorMix(_Model):
    key: str
    long_pct: float
    short_pct: float


class RotationSeries(_Model):
    breadth_dates: list[dt.date]
    breadth_pct: list[float | None]


class Rotation(_Model):
    """Breadth, equal vs cap weight, GICS groups and themes, ranked."""

    breadth_pct_beating_index: float
    breadth_5d_pct: float | None
    breadth_20d_pct: float | None
    breadth_pctile: float | None
    advancers: int
    decliners: int
    above_50d_pct: float | None
    above_200d_pct: float | None
    ew_ret_pct: float
    cw_ret_pct: float | None
    ew_minus_cw_pct: float | None
    ew_minus_cw_pctile: float | None
    rsp_minus_spy_pct: float | None
    index_ret_pct: float
    n_members: int
    breadth_5d_pct_pctile: float | None
    breadth_20d_pct_pctile: float | None
    above_50d_pct_pctile: float | None
    above_200d_pct_pctile: float | None
    rsp_minus_spy_pct_pctile: float | None
    breadth_pct_beating_index_rank: Rank = Field(description="today's breadth among the past year's")
    ew_minus_cw_pct_rank: Rank
    sectors: list[GroupRow]
    industry_groups: list[GroupRow]
    themes: list[ThemeRow]
    sector_etfs: list[EtfRow]
    out_of: list[RankedRow] = Field(description="the 3 groups with the lowest z (money left)")
    into: list[RankedRow] = Field(description="the 3 groups with the highest z (money entered)")
    leg_sector_mix: list[LegSectorMix]
    sector_snapshot: dt.date
    series: RotationSeries


# ---------------------------------------------------------------- leveraged ETFs
class UnderlyingFlow(_Model):
    proxy: str
    underlying: str
    kind: str
    flow_usd: float
    bull_usd: float
    bear_usd: float
    n_funds: int


class StockFlow(_Model):
    ticker: str
    direct_usd: float
    via_index_usd: float
    flow_usd: float
    over_100mn: bool


class Scenario(_Model):
    move_pct: float
    flow_usd: float


class AumAsOf(_Model):
    oldest: dt.date
    newest: dt.date
    aum_weighted_age_days: float | None


class ExcludedFund(_Model):
    ticker: str
    reason: str


class Letf(_Model):
    """Estimated end-of-day rebalancing of leveraged and inverse ETFs (model estimate)."""

    rebalance_total_usd: float = Field(description="net flow, negative = selling")
    rebalance_sell_usd: float
    rebalance_buy_usd: float
    bull_usd: float
    bear_usd: float
    n_funds: int
    n_excluded: int
    by_underlying: list[UnderlyingFlow]
    top_stocks: list[StockFlow]
    n_names_100mn: int
    gamma_per_1pct_usd: float = Field(description="LETF flow a +1% move of every equity underlying would trigger at the next close "
                                                   "(assets after today's move; equals the +1% scenario)")
    gamma_by_underlying: dict[str, float] = Field(description="the same per underlying proxy, every kind (bonds, commodities, crypto too)")
    dealer_gamma_per_1pct_usd: float | None
    net_gamma_per_1pct_usd: float | None
    scenarios: list[Scenario]
    week_repeat_flow_usd: float
    last5_total_usd: dict[str, float]
    aum_as_of: AumAsOf
    excluded: list[ExcludedFund]
    volume_coverage: bool = Field(description="false: the provider has no traded value, so flows are not put against volume")
    pass_through_rule: list[str] = Field(description="index proxies whose flow is passed to their members by market cap")


# ---------------------------------------------------------------- flows
class JanYear(_Model):
    jan_pct: float
    feb_mar_pct: float


class Overlap(_Model):
    count: int
    of: int
    share_pct: float
    leg_weight_pct: float


class NetName(_Model):
    ticker: str
    net_usd: float


class FlowsSeries(_Model):
    dates: list[dt.date]
    retail: list[float]
    inst: list[float]


class Flows(_Model):
    """Retail vs institutional net buying (simulated when ``simulated``) and the January study (real prices)."""

    jan_fm_corr: float | None
    jan_fm_n_years: int
    jan_fm_years: dict[str, JanYear]
    available: bool
    simulated: bool
    unavailable_reason: Literal["no_flow_data"] | None = None
    retail_intensity: float | None = None
    inst_intensity: float | None = None
    retail_intensity_pctile: float | None = None
    inst_intensity_pctile: float | None = None
    retail_rank: Rank | None = None
    inst_rank: Rank | None = None
    retail_timing: dict[str, float] | None = None
    inst_timing: dict[str, float] | None = None
    retail_when: Literal["am", "pm", "spread"] | None = None
    inst_when: Literal["am", "pm", "spread"] | None = None
    retail_top_buys: list[NetName] | None = None
    retail_top_sells: list[NetName] | None = None
    favourites: list[str] | None = None
    overlap_long: Overlap | None = None
    overlap_short: Overlap | None = None
    series: FlowsSeries | None = None


# ---------------------------------------------------------------- story
class Lead(_Model):
    """Which leg carried the L/S move (L/S = long - short)."""

    leader: Literal["long", "short", "both"]
    long_share_pct: float = Field(description="long / (long - short), percent; above 100 when the short leg moved against the L/S move")
    short_share_pct: float


class StoryThresholds(_Model):
    momentum_z: float
    index_pct: float
    breadth_extreme_pctile: float
    group_z: float
    lead_share_pct: float
    flat_index_pct: float
    broad_breadth_pct: float
    extreme_rank_pctile: float
    history_direction_pct: float


class Story(_Model):
    """The story of the day (:mod:`nightdesk.facts.story`)."""

    primary: Literal["momentum_crash", "momentum_rally", "index_selloff", "index_rally", "rotation_day", "quiet"]
    momentum_move: Literal["crash", "rally"] | None
    index_move: Literal["selloff", "rally"] | None = Field(description="index beyond the threshold, whatever momentum did (stories combine)")
    intensity: Literal["small", "notable", "sharp", "extreme"] = Field(description="the |L/S z| ladder")
    lead: Lead = Field(description="equal-weight baskets")
    lead_cap_weighted: Lead | None
    leaders_disagree: bool
    reading: Literal["de_grossing", "short_squeeze", "beta_selloff", "beta_rally"] | None
    breadth_extreme: Literal["narrow", "broad"] | None
    group_extreme: str | None = Field(description="key of the sector or theme with the largest |z| beyond the threshold")
    thresholds: StoryThresholds


# ---------------------------------------------------------------- the record
class FactsRecord(_Model):
    """One session's facts: what every edition, chart and email is written from."""

    meta: Meta
    story: Story
    momentum: Momentum
    rotation: Rotation
    letf: Letf
    flows: Flows

    @property
    def date(self) -> dt.date:
        return self.meta.date


def to_json(record: FactsRecord) -> str:
    """``facts.json`` text: UTF-8, one-space indent, fields in declaration order."""
    return json.dumps(record.model_dump(mode="json"), ensure_ascii=False, indent=1)


def from_json(text: str, *, name: str = "facts.json") -> FactsRecord:
    """Read a record back; :class:`FactsError` names the file and the first problem."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise FactsError(f"{name}: not valid JSON ({exc})") from None
    schema = obj.get("meta", {}).get("schema") if isinstance(obj, dict) else None
    if schema != SCHEMA_VERSION:
        raise FactsError(f"{name}: facts schema {schema!r}, this version reads {SCHEMA_VERSION!r}: render the note again")
    return validate(obj, name=name)


def validate(obj: dict, *, name: str = "facts") -> FactsRecord:
    """A :class:`FactsRecord` from plain data; :class:`FactsError` names the first bad field."""
    try:
        return FactsRecord.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FactsError(f"{name}: {where}: {first['msg']}") from None


def validate_section(model: type[_Model], obj: dict, *, name: str = "facts") -> _Model:
    """One section, typed; :class:`FactsError` names the first bad field."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise FactsError(f"{name}: {model.__name__.lower()}.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def json_schema() -> dict:
    """The record's JSON Schema (committed as ``facts/schema.json``)."""
    return FactsRecord.model_json_schema(by_alias=True)
