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


class EventStudy(_Model):
    """Days like today in a history, and what followed them."""

    rule_kind: Literal["pct", "z"] = Field(description="pct: the % trigger rule; z: the z fallback (too few days met the % rule)")
    trigger_ls_pct: float
    trigger_long_pct: float | None
    z_fallback: float
    since_year: int
    n_events: int
    horizons: dict[str, Horizon] = Field(description="sessions after the event ('21', '42', '63') -> statistics")
    events: list[Event]
    small_sample: bool = Field(description="fewer than 10 events")


class MomentumHistory(_Model):
    panel: EventStudy = Field(description="the note's own L/S baskets since the panel starts")
    umd: EventStudy = Field(description="Ken French UMD factor since 1926")


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
    move_class: str
    n_long: int
    n_short: int
    regime: Literal["crash", "rally", "quiet"]
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
    gamma_per_1pct_usd: float = Field(description="LETF flow per +1% move of every underlying")
    gamma_by_underlying: dict[str, float]
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


# ---------------------------------------------------------------- the record
class FactsRecord(_Model):
    """One session's facts: what every edition, chart and email is written from."""

    meta: Meta
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


def json_schema() -> dict:
    """The record's JSON Schema (committed as ``facts/schema.json``)."""
    return FactsRecord.model_json_schema(by_alias=True)
