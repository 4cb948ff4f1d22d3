"""Which flow data a provider serves: a vendor CSV drop, FINRA daily short volume, Nasdaq RTAT, or
the seeded simulation, chosen by ``settings.flows``; the frame always says which one it was.

Files live under the flows data root (``settings.flows.dir``)::

    flows.csv                           vendor drop (columns: marketdata.flows_io.VENDOR_COLUMNS)
    finra/CNMSshvolYYYYMMDD.txt         FINRA Reg SHO daily short-sale volume, one file a session
    rtat/*.csv                          Nasdaq Data Link RTAT10 exports (date,ticker,activity,sentiment)

With ``fetch_missing`` the FINRA and RTAT sources download the sessions the folder lacks (FINRA's
public files; RTAT with the API key) and keep them there, so each session is fetched once.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from nightdesk.marketdata.base import DataError, ProviderIOError
from nightdesk.marketdata.flows_io import VENDOR_COLUMNS, read_finra_short_volume, read_rtat, read_vendor_flows
from nightdesk.marketdata.simulated import simulate_flows

SOURCE_LINES = {
    "simulated": "simulated: seeded synthetic retail/institutional flows (illustration only)",
    "vendor": "{vendor}: retail and institutional buy/sell notional by ticker and time of day",
    "finra": "FINRA daily short-sale volume (off-exchange), read as a retail-buying proxy; no institutional series",
    "rtat": "Nasdaq Retail Trading Activity Tracker (RTAT10: retail share of volume and net sentiment); no institutional series",
    "none": "no flow data",
}
"""Flows source -> the data appendix's line (readers see it: names the source, never a path)."""
FLOW_COLUMNS = VENDOR_COLUMNS + ["source"]


@dataclass(frozen=True)
class FlowsConfig:
    """The flow settings a provider needs (built from ``settings.flows``)."""

    source: str = "auto"
    dir: Path | None = None
    seed: int = 20260204
    vendor_name: str = "vendor flow data"
    rtat_api_key: str | None = None
    rtat_url: str = "https://data.nasdaq.com/api/v3/datatables/NDAQ/RTAT10.json"
    finra_url: str = "https://cdn.finra.org/equity/regsho/daily"
    fetch_missing: bool = False
    retail_notional_usd: float = 3.0e10
    timeout_s: float = 60.0


class FlowsResult(NamedTuple):
    """Flow records (or None), whether they are simulated, and the data appendix's line for them."""

    frame: pd.DataFrame | None
    simulated: bool
    source: str


def _window(frame: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    keep = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))
    return frame[keep].sort_values("date", kind="stable").reset_index(drop=True)


def finra_to_flows(short: pd.DataFrame, px_close: pd.DataFrame) -> pd.DataFrame:
    """FINRA off-exchange short-sale volume -> flow records (retail proxy, whole day, USD at the close).

    Wholesalers fill retail buy orders largely by selling short off-exchange, so the short share
    of off-exchange volume is read as retail buying: ``retail_buy_usd = short volume x close``,
    ``retail_sell_usd = (total - short) x close``. There is no institutional series (zeros).
    Rows without a close for the day are dropped.

    Examples
    --------
    >>> short = pd.DataFrame({"date": pd.to_datetime(["2026-08-03"]), "ticker": ["AAPL"], "short_volume": [600.0],
    ...                       "total_volume": [1000.0], "short_share": [0.6]})
    >>> px = pd.DataFrame({"AAPL": [200.0]}, index=pd.to_datetime(["2026-08-03"]))
    >>> finra_to_flows(short, px)[["retail_buy_usd", "retail_sell_usd"]].values.tolist()
    [[120000.0, 80000.0]]
    """
    long_px = px_close.stack().rename("close").rename_axis(["date", "ticker"]).reset_index()
    m = short.merge(long_px, on=["date", "ticker"], how="inner")
    return pd.DataFrame({
        "date": m["date"], "ticker": m["ticker"], "bucket": "day",
        "retail_buy_usd": m["short_volume"] * m["close"],
        "retail_sell_usd": (m["total_volume"] - m["short_volume"]) * m["close"],
        "inst_buy_usd": 0.0, "inst_sell_usd": 0.0, "source": "finra",
    })


def rtat_to_flows(rtat: pd.DataFrame, *, retail_notional_usd: float) -> pd.DataFrame:
    """RTAT10 rows -> flow records (retail only, whole day).

    ``activity`` (the ticker's share of all retail volume) times ``retail_notional_usd`` is the
    ticker's retail gross; ``sentiment`` (-10 .. 10, net buying) over 10 is its net intensity.

    Examples
    --------
    >>> r = pd.DataFrame({"date": pd.to_datetime(["2024-06-26"]), "ticker": ["TSLA"], "activity": [0.1], "sentiment": [5]})
    >>> rtat_to_flows(r, retail_notional_usd=1e9)[["retail_buy_usd", "retail_sell_usd"]].values.tolist()
    [[75000000.0, 25000000.0]]
    """
    gross = rtat["activity"].astype(float) * retail_notional_usd
    net = np.clip(rtat["sentiment"].astype(float) / 10.0, -1.0, 1.0)
    return pd.DataFrame({
        "date": pd.to_datetime(rtat["date"]), "ticker": rtat["ticker"], "bucket": "day",
        "retail_buy_usd": gross * (1 + net) / 2, "retail_sell_usd": gross * (1 - net) / 2,
        "inst_buy_usd": 0.0, "inst_sell_usd": 0.0, "source": "rtat",
    })


def _save_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _http_get(url: str, *, params: dict | None = None, headers: dict | None = None, timeout_s: float = 60.0) -> tuple[int, bytes]:
    import httpx

    try:
        r = httpx.get(url, params=params, headers=headers, timeout=timeout_s, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ProviderIOError(f"{url.split('?')[0]}: request failed ({exc.__class__.__name__}: {exc})") from None
    if r.status_code == 429 or r.status_code >= 500:  # the server's trouble, not the data's: worth a retry
        raise ProviderIOError(f"{url.split('?')[0]}: HTTP {r.status_code}")
    return r.status_code, r.content


def fetch_finra_days(folder: Path, days: list[dt.date], *, base_url: str, timeout_s: float = 60.0) -> list[dt.date]:
    """Download FINRA's consolidated daily short-volume file for each of ``days`` not in ``folder``.

    Returns the days fetched; a day FINRA has not published (403/404) is skipped.
    """
    got = []
    for day in days:
        name = f"CNMSshvol{day:%Y%m%d}.txt"
        if (folder / name).exists():
            continue
        status, body = _http_get(f"{base_url.rstrip('/')}/{name}", timeout_s=timeout_s)
        if status in (403, 404):
            continue
        if status != 200:
            raise DataError(f"FINRA short volume {day}: HTTP {status}")
        _save_atomically(folder / name, body)
        got.append(day)
    return got


def parse_rtat_json(body: bytes) -> tuple[pd.DataFrame, str | None]:
    """A Nasdaq Data Link datatables page (JSON) -> (rows, next cursor id)."""
    try:
        doc = json.loads(body)
        table = doc["datatable"]
        cols = [c["name"] for c in table["columns"]]
        frame = pd.DataFrame(table["data"], columns=cols)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"RTAT: response is not a Nasdaq Data Link datatable ({exc})") from None
    missing = {"date", "ticker", "activity", "sentiment"} - set(frame.columns)
    if missing:
        raise DataError(f"RTAT: response lacks column(s) {sorted(missing)}")
    return frame, (doc.get("meta") or {}).get("next_cursor_id")


def fetch_rtat_window(folder: Path, start: dt.date, end: dt.date, *, api_key: str, url: str, timeout_s: float = 60.0) -> Path | None:
    """Download RTAT10 for ``start..end`` (all pages) into ``folder/rtat10_<start>_<end>.csv``."""
    frames, cursor = [], None
    while True:
        params = {"date.gte": start.isoformat(), "date.lte": end.isoformat(), "api_key": api_key}
        if cursor:
            params["qopts.cursor_id"] = cursor
        status, body = _http_get(url, params=params, timeout_s=timeout_s)
        if status != 200:
            raise DataError(f"RTAT {start}..{end}: HTTP {status}" + (" (check the API key)" if status in (400, 401, 403) else ""))
        page, cursor = parse_rtat_json(body)
        frames.append(page)
        if not cursor:
            break
    rows = pd.concat(frames, ignore_index=True)
    if rows.empty:
        return None
    path = folder / f"rtat10_{start}_{end}.csv"
    _save_atomically(path, rows[["date", "ticker", "activity", "sentiment"]].to_csv(index=False).encode())
    return path


def _finra(cfg: FlowsConfig, start: dt.date, end: dt.date, px_close: pd.DataFrame, sessions: list[dt.date]) -> FlowsResult:
    folder = cfg.dir / "finra"
    if cfg.fetch_missing:
        fetch_finra_days(folder, sessions, base_url=cfg.finra_url, timeout_s=cfg.timeout_s)
    files = [folder / f"CNMSshvol{d:%Y%m%d}.txt" for d in sessions]
    files = [f for f in files if f.exists()]
    if not files:
        raise DataError(f"flows source 'finra': no FINRA short-volume files for {start}..{end} in the flows folder (finra/CNMSshvolYYYYMMDD.txt)")
    short = pd.concat([read_finra_short_volume(f) for f in files], ignore_index=True)
    short = short[short["ticker"].isin(px_close.columns)]
    frame = finra_to_flows(short, px_close)
    return FlowsResult(_window(frame, start, end), False, SOURCE_LINES["finra"])


def _rtat(cfg: FlowsConfig, start: dt.date, end: dt.date, px_close: pd.DataFrame) -> FlowsResult:
    folder = cfg.dir / "rtat"
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    rows = pd.concat([read_rtat(f) for f in files], ignore_index=True) if files else pd.DataFrame(columns=["date", "ticker", "activity", "sentiment"])
    have = pd.DatetimeIndex(rows["date"]) if len(rows) else pd.DatetimeIndex([])
    if cfg.fetch_missing and (not len(have) or have.max() < pd.Timestamp(end)):
        if not cfg.rtat_api_key:
            if not len(rows):
                raise DataError("flows source 'rtat': no RTAT files and no API key (set NIGHTDESK_FLOWS__RTAT_API_KEY or NASDAQ_DATA_LINK_API_KEY)")
        else:
            lo = (have.max() + pd.Timedelta(days=1)).date() if len(have) else start
            path = fetch_rtat_window(folder, lo, end, api_key=cfg.rtat_api_key, url=cfg.rtat_url, timeout_s=cfg.timeout_s)
            if path is not None:
                rows = pd.concat([rows, read_rtat(path)], ignore_index=True)
    if rows.empty:
        raise DataError(f"flows source 'rtat': no RTAT rows for {start}..{end}")
    rows = rows.drop_duplicates(["date", "ticker"], keep="last")
    rows = rows[rows["ticker"].isin(px_close.columns)]
    frame = rtat_to_flows(rows, retail_notional_usd=cfg.retail_notional_usd)
    return FlowsResult(_window(frame, start, end), False, SOURCE_LINES["rtat"])


def resolve_flows_source(cfg: FlowsConfig, provider_dir: Path | None = None) -> tuple[str, Path | None]:
    """The source ``cfg`` selects (``auto`` resolved: a vendor ``flows.csv`` in the flows folder or
    the provider's folder, else ``simulated``) and the vendor file, if any."""
    vendor = next((d / "flows.csv" for d in (cfg.dir, provider_dir) if d is not None and (d / "flows.csv").exists()), None)
    if cfg.source == "auto":
        return ("vendor" if vendor is not None else "simulated"), vendor
    return cfg.source, vendor


def flows_source_line(cfg: FlowsConfig, provider_dir: Path | None = None) -> str:
    """The data appendix's line for the flows ``cfg`` selects (the same for every date and window)."""
    source, _ = resolve_flows_source(cfg, provider_dir)
    if source not in SOURCE_LINES:
        raise DataError(f"unknown flows source {source!r}; one of auto, {', '.join(SOURCE_LINES)}")
    return SOURCE_LINES[source].format(vendor=cfg.vendor_name)


def load_flows(cfg: FlowsConfig, start: dt.date, end: dt.date, ret_1d: pd.DataFrame, *,
               px_close: Callable[[], pd.DataFrame], provider_dir: Path | None = None) -> FlowsResult:
    """Flow records for ``start..end`` from the configured source.

    Parameters
    ----------
    ret_1d : pandas.DataFrame
        Daily returns (the simulation's input; their columns are the known tickers).
    px_close : callable
        Returns the provider's closes for the window (FINRA's USD notionals), called only when needed.
    provider_dir : pathlib.Path, optional
        The provider's own folder: ``auto`` also looks for ``flows.csv`` there.
    """
    source, vendor = resolve_flows_source(cfg, provider_dir)
    line = flows_source_line(cfg, provider_dir)
    if source == "none":
        return FlowsResult(None, False, line)
    if source == "simulated":
        return FlowsResult(simulate_flows(ret_1d, seed=cfg.seed, start=pd.Timestamp(start), end=pd.Timestamp(end)), True, line)
    if source == "vendor":
        if vendor is None:
            raise DataError("flows source 'vendor': no flows.csv in the flows folder (settings flows.dir)")
        frame = read_vendor_flows(vendor, known_tickers=set(ret_1d.columns))
        return FlowsResult(_window(frame, start, end), False, line)
    if cfg.dir is None:
        raise DataError(f"flows source {source!r} needs a flows folder (settings flows.dir / NIGHTDESK_FLOWS__DIR)")
    if source == "finra":
        px = px_close()
        sessions = [d.date() for d in px.loc[pd.Timestamp(start) : pd.Timestamp(end)].index]
        return _finra(cfg, start, end, px, sessions)
    if source == "rtat":
        return _rtat(cfg, start, end, px_close())
    raise DataError(f"unknown flows source {source!r}; one of auto, simulated, vendor, finra, rtat, none")
