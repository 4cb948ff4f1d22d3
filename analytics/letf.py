"""Leveraged / inverse ETF end-of-day rebalancing, pass-through to stocks, gamma and scenarios.

A daily-reset fund with assets ``A`` (before the day), leverage ``L`` and underlying return
``r`` must trade ``A * L * (L - 1) * r`` of the underlying at the close: it sells on down days
whether it is a bull (L > 1) or a bear (L < 0) fund.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SCENARIO_MOVES_PCT = (-5.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 5.0)
EQUITY_KINDS = ("index", "sector", "single_stock")


def rebalance_flow_usd(aum_usd: float | np.ndarray, leverage: float | np.ndarray, underlying_ret: float | np.ndarray):
    """Required end-of-day trade in the underlying (USD; negative = sell).

    Parameters
    ----------
    aum_usd : float or array
        Fund assets at the previous close.
    leverage : float or array
        Signed daily leverage (2, 3, -1, -3, ...).
    underlying_ret : float or array
        Underlying's return for the day (fraction).

    Examples
    --------
    >>> rebalance_flow_usd(1e9, 3, -0.02)
    -120000000.0
    >>> rebalance_flow_usd(1e9, -1, -0.02)
    -40000000.0
    """
    return aum_usd * leverage * (leverage - 1) * underlying_ret


def aum_as_of_date(registry: pd.DataFrame) -> pd.Series:
    """Anchor date of each fund's AUM: 'YYYY-MM' -> month end, 'YYYY' -> year end."""
    raw = registry["aum_as_of"].astype("string")
    out = pd.to_datetime(raw.where(raw.str.len() == 10), errors="coerce")
    month = pd.to_datetime(raw.where(raw.str.len() == 7), format="%Y-%m", errors="coerce") + pd.offsets.MonthEnd(0)
    year = pd.to_datetime(raw.where(raw.str.len() == 4), format="%Y", errors="coerce") + pd.offsets.YearEnd(0)
    return out.fillna(month).fillna(year)


def rolled_aum_usd_many(registry: pd.DataFrame, px_close: pd.DataFrame, days: list[pd.Timestamp], *,
                        as_of: pd.Timestamp | None = None) -> dict[pd.Timestamp, pd.DataFrame]:
    """Roll each fund's AUM anchor to the close before each of ``days`` with its own price path.

    ``A_(t-1) = A_asof * P_(t-1) / P_asof``. When the anchor date is after the last close
    available (the last on or before ``as_of``, default the panel's last), that close stands in
    for ``P_asof``; before the first close, the first. Funds without AUM or prices are kept
    with NaN and a reason. The price path is filled and the anchors are found once for all dates.

    Returns
    -------
    dict
        Date -> DataFrame indexed by ticker with ``aum_anchor_usd, aum_anchor_date,
        aum_prev_usd, anchor_age_days, status``.
    """
    reg = registry.drop_duplicates("ticker").set_index("ticker")
    anchor_day = aum_as_of_date(registry.drop_duplicates("ticker")).set_axis(reg.index)
    have = [t for t in reg.index if t in px_close.columns]
    px = px_close[have]
    filled = px.ffill()
    first_valid = px.bfill().iloc[0] if len(px) else pd.Series(dtype=float)
    last = len(px) - 1 if as_of is None else px.index.searchsorted(as_of, side="right") - 1
    pos_anchor = np.clip(px.index.searchsorted(anchor_day.reindex(have).fillna(px.index[0]).to_numpy(), side="right") - 1, 0, max(last, 0))
    values = filled.to_numpy()
    p_anchor = pd.Series(values[pos_anchor, np.arange(len(have))], index=have).fillna(first_valid).reindex(reg.index)
    aum = pd.to_numeric(reg["aum_usd"], errors="coerce")
    lev = pd.to_numeric(reg["leverage"], errors="coerce")
    fixed = pd.Series("ok", index=reg.index, dtype=object)
    fixed[(lev == 0) | lev.isna()] = "no_leverage"
    fixed[aum.isna() | (aum <= 0)] = "no_aum"
    out = {}
    for day in days:
        pos_prev = px.index.searchsorted(day, side="left") - 1  # the close before ``day``
        p_prev = (filled.iloc[pos_prev] if pos_prev >= 0 else pd.Series(np.nan, index=have)).reindex(reg.index)
        status = fixed.copy()
        status[(status == "ok") & p_prev.isna()] = "no_prices"
        rolled = aum * p_prev / p_anchor
        out[day] = pd.DataFrame(
            {
                "aum_anchor_usd": aum,
                "aum_anchor_date": anchor_day,
                "aum_prev_usd": rolled.where(status == "ok"),
                "anchor_age_days": (day - anchor_day).dt.days,
                "status": status,
            }
        )
    return out


def rolled_aum_usd(registry: pd.DataFrame, px_close: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """:func:`rolled_aum_usd_many` for one date."""
    return rolled_aum_usd_many(registry, px_close, [day])[day]


def fund_flows(registry: pd.DataFrame, ret_1d: pd.DataFrame, aum: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """Per-fund rebalancing flow for ``day``.

    The underlying's return is the fund's own return divided by its leverage when the fund
    has a clean return that day, else the proxy's return.

    Returns
    -------
    pandas.DataFrame
        Index = ticker; ``leverage, underlying, underlying_kind, proxy, aum_prev_usd,
        underlying_ret_pct, ret_source, flow_usd, status``.
    """
    reg = registry.set_index("ticker")
    out = reg[["leverage", "underlying", "underlying_kind", "underlying_proxy"]].rename(columns={"underlying_proxy": "proxy"})
    out = out.join(aum[["aum_prev_usd", "status"]])
    own = ret_1d.loc[day].reindex(out.index) if day in ret_1d.index else pd.Series(np.nan, index=out.index)
    today = ret_1d.loc[day] if day in ret_1d.index else pd.Series(dtype=float)
    prx = pd.Series(today.reindex(out["proxy"]).to_numpy(), index=out.index)
    r_u = (own / out["leverage"]).where(own.notna(), prx)
    out["underlying_ret_pct"] = 100 * r_u
    out["ret_source"] = np.where(own.notna(), "fund", np.where(prx.notna(), "proxy", "none"))
    out.loc[(out["status"] == "ok") & r_u.isna(), "status"] = "no clean return on the day (fund and proxy)"
    ok = out["status"] == "ok"
    out["flow_usd"] = np.where(ok, rebalance_flow_usd(out["aum_prev_usd"], out["leverage"], r_u), np.nan)
    return out


def by_underlying(flows: pd.DataFrame) -> pd.DataFrame:
    """Flows summed by underlying proxy, largest absolute first (USD)."""
    ok = flows[flows["status"] == "ok"]
    proxies, code = np.unique(ok["proxy"].to_numpy(dtype=object), return_inverse=True)
    flow, lev = ok["flow_usd"].to_numpy(float), ok["leverage"].to_numpy(float)
    first = np.unique(code, return_index=True)[1]

    def total(x: np.ndarray) -> np.ndarray:
        return np.bincount(code, weights=x, minlength=len(proxies))

    g = pd.DataFrame(
        {
            "underlying": ok["underlying"].to_numpy(dtype=object)[first],
            "kind": ok["underlying_kind"].to_numpy(dtype=object)[first],
            "flow_usd": total(flow),
            "bull_usd": total(np.where(lev > 0, flow, 0.0)),
            "bear_usd": total(np.where(lev < 0, flow, 0.0)),
            "n_funds": np.bincount(code, minlength=len(proxies)),
        },
        index=pd.Index(proxies, name="proxy"),
    )
    return g.iloc[np.argsort(-np.abs(g["flow_usd"].to_numpy()), kind="stable")]


def aum_after_close_usd(flows: pd.DataFrame) -> pd.Series:
    """Each fund's assets after today's move, ``A_t = A_(t-1) * (1 + L r)`` (funds with status ok)."""
    ok = flows[flows["status"] == "ok"]
    return ok["aum_prev_usd"] * (1 + ok["leverage"] * ok["underlying_ret_pct"] / 100)


def gamma_per_1pct_usd(flows: pd.DataFrame) -> pd.Series:
    """LETF flow (USD) a +1% move of each underlying would trigger at the next close, by proxy:
    ``A_t * L * (L - 1) * 1%`` with the assets after today's move (the scenarios' basis)."""
    ok = flows[flows["status"] == "ok"]
    return (aum_after_close_usd(flows) * ok["leverage"] * (ok["leverage"] - 1) * 0.01).groupby(ok["proxy"]).sum()


def scenario_flows(flows: pd.DataFrame, moves_pct: tuple[float, ...] = SCENARIO_MOVES_PCT) -> pd.DataFrame:
    """Flows (USD) if every equity underlying moved by each of ``moves_pct`` tomorrow (linear in the
    move: the +1% row is the equity underlyings' :func:`gamma_per_1pct_usd`)."""
    ok = flows[(flows["status"] == "ok") & flows["underlying_kind"].isin(EQUITY_KINDS)]
    k = (aum_after_close_usd(ok) * ok["leverage"] * (ok["leverage"] - 1)).sum()
    return pd.DataFrame({"move_pct": list(moves_pct), "flow_usd": [k * m / 100 for m in moves_pct]})


def equity_proxies(flows: pd.DataFrame) -> list[str]:
    """Proxies of the equity underlyings (index, sector, single stock)."""
    ok = flows[(flows["status"] == "ok") & flows["underlying_kind"].isin(EQUITY_KINDS)]
    return sorted(ok["proxy"].unique())


def pass_through(flows: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Spread index and sector fund flows over stocks by weight; single-stock funds go direct.

    Parameters
    ----------
    flows : pandas.DataFrame
        Output of :func:`fund_flows`.
    weights : pandas.DataFrame
        Stock ticker x proxy ticker (e.g. ``QQQ``, ``SPY``, ``SOXX``): each column sums to 1.
        Proxies without a column are not passed through (commodities, rates, volatility).

    Returns
    -------
    pandas.DataFrame
        Index = stock ticker; ``flow_usd`` (total), ``direct_usd`` (single-stock funds),
        ``via_index_usd``; sorted by absolute flow.
    """
    ok = flows[flows["status"] == "ok"]
    single = (ok["underlying_kind"] == "single_stock").to_numpy()
    direct = ok[single].groupby("proxy")["flow_usd"].sum()
    index_flow = ok[~single].groupby("proxy")["flow_usd"].sum().reindex(weights.columns).fillna(0.0)
    via = pd.Series(weights.to_numpy() @ index_flow.to_numpy(), index=weights.index)
    via = via[via != 0]
    out = pd.DataFrame({"direct_usd": direct, "via_index_usd": via}).fillna(0.0)
    out["flow_usd"] = out["direct_usd"] + out["via_index_usd"]
    return out.iloc[np.argsort(-np.abs(out["flow_usd"].to_numpy()), kind="stable")]


def week_repeat_flow_usd(daily_totals_usd: pd.Series) -> float:
    """Flow if next week repeats the last five sessions' pattern (sum of their flows, USD)."""
    return float(daily_totals_usd.iloc[-5:].sum())


def bs_gamma(spot: float, strike: np.ndarray, t_years: np.ndarray, iv: np.ndarray, rate: float = 0.0) -> np.ndarray:
    """Black-Scholes gamma per option (per $1 of the underlying)."""
    t = np.maximum(t_years, 1e-6)
    d1 = (np.log(spot / strike) + (rate + 0.5 * iv**2) * t) / (iv * np.sqrt(t))
    return np.exp(-0.5 * d1**2) / np.sqrt(2 * np.pi) / (spot * iv * np.sqrt(t))


def dealer_gamma_per_1pct_usd(options: pd.DataFrame, spot: float, day: pd.Timestamp) -> float:
    """Dealer gamma exposure (USD traded per +1% move) from open interest.

    Convention: dealers are long calls and short puts sold to customers (the usual GEX
    convention): ``GEX = sum(sign * gamma * OI * 100 * S^2 * 1%)`` with sign +1 for calls and
    -1 for puts. Positive means dealers sell into rallies (dampening).

    Parameters
    ----------
    options : pandas.DataFrame
        Columns ``strike, expiry, type ('C'/'P'), open_interest, iv`` (iv as a fraction).
    """
    t = (pd.to_datetime(options["expiry"]) - day).dt.days.to_numpy() / 365.0
    live = t > 0
    o = options[live]
    g = bs_gamma(spot, o["strike"].to_numpy(float), t[live], o["iv"].to_numpy(float))
    sign = np.where(o["type"].str.upper().str.startswith("C"), 1.0, -1.0)
    return float((sign * g * o["open_interest"].to_numpy(float) * 100 * spot**2 * 0.01).sum())


@dataclass(frozen=True)
class LetfTotals:
    """Totals of the day's rebalancing (USD)."""

    rebalance_total_usd: float
    rebalance_sell_usd: float
    rebalance_buy_usd: float
    bull_usd: float
    bear_usd: float
    n_funds: int
    n_excluded: int


def totals(flows: pd.DataFrame) -> LetfTotals:
    """Net, selling, buying, bull- and bear-fund totals."""
    ok = flows[flows["status"] == "ok"]
    f = ok["flow_usd"]
    return LetfTotals(
        rebalance_total_usd=float(f.sum()),
        rebalance_sell_usd=float(f[f < 0].sum()),
        rebalance_buy_usd=float(f[f > 0].sum()),
        bull_usd=float(f[ok["leverage"] > 0].sum()),
        bear_usd=float(f[ok["leverage"] < 0].sum()),
        n_funds=int(len(ok)),
        n_excluded=int(len(flows) - len(ok)),
    )


PASS_THROUGH_PROXIES = ("QQQ", "SPY", "SOXX", "XLK", "XLF", "XLE", "XLV", "XLRE", "KRE")
"""Index proxies whose LETF flow is passed to their members by market cap (:func:`universe_masks`)."""


def universe_masks(reference: pd.DataFrame, sectors_pit: pd.DataFrame) -> pd.DataFrame:
    """Which members belong to each proxy of :data:`PASS_THROUGH_PROXIES` (ticker x proxy, bool).

    QQQ: Nasdaq-listed members; SPY: all members; SOXX: semiconductor sub-industries; the
    sector SPDRs: their GICS sector; KRE: regional banks. ``sectors_pit``: the point-in-time
    ``sector, sub_industry`` of each member.
    """
    ex = reference.drop_duplicates("ticker").set_index("ticker")["exchange"].reindex(sectors_pit.index)
    sec, sub = sectors_pit["sector"], sectors_pit["sub_industry"].fillna("")
    masks = pd.DataFrame(
        {
            "QQQ": ex.isin(["NMS", "NGM", "NCM"]),
            "SPY": pd.Series(True, index=sectors_pit.index),
            "SOXX": sub.str.contains("Semiconductor"),
            "XLK": sec == "Information Technology",
            "XLF": sec == "Financials",
            "XLE": sec == "Energy",
            "XLV": sec == "Health Care",
            "XLRE": sec == "Real Estate",
            "KRE": sub.str.contains("Regional Banks"),
        }
    )
    return masks[list(PASS_THROUGH_PROXIES)].fillna(False).astype(bool)


def universe_weights(masks: pd.DataFrame, caps_usd: pd.Series) -> pd.DataFrame:
    """Cap weights of each proxy's members (ticker x proxy, columns sum to 1; empty proxies dropped)."""
    c = caps_usd.reindex(masks.index).fillna(0.0).to_numpy()[:, None]
    w = masks.to_numpy() * c
    total = w.sum(axis=0)
    keep = total > 0
    return pd.DataFrame(w[:, keep] / total[keep], index=masks.index, columns=masks.columns[keep])
