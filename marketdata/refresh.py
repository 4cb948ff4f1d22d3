"""Reference data refresh: index membership, shares/market caps, LETF AUM, Ken French factors.

Each input has adapters behind one interface (:class:`Adapter`: ``fetch(ctx) -> Fetched``), as
price providers sit behind :class:`~marketdata.base.Provider`; a vendor file (adapter ``file``)
can replace any of them. Each refresh records its source line and the date the data describes
in the store's manifest, and commits one table atomically (:meth:`Store.replace_table`).

Public endpoints (all reached with :mod:`httpx`; each URL can be overridden in settings):

=============  =====================  ====================================================================
input          adapter                endpoint
=============  =====================  ====================================================================
membership     ``datasets-github``    datasets/s-and-p-500-companies ``data/constituents.csv`` (ODC-PDDL)
caps           ``sec``                SEC EDGAR ``company_tickers_exchange.json`` + XBRL frames of
                                      ``dei/EntityCommonStockSharesOutstanding`` (US government, public)
letf_aum       ``yahoo``              Yahoo Finance quote summary via ``yfinance`` (``totalAssets``)
factors        ``french``             Kenneth R. French Data Library daily factor and momentum zips
=============  =====================  ====================================================================
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import pandas as pd

from nightdesk.marketdata.base import DataError, ProviderIOError
from nightdesk.marketdata.store import Store, table_as_of

if TYPE_CHECKING:
    from nightdesk.settings import Settings

CONSTITUENTS_URL = "https://raw.githubusercontent.com/datasets/s-and-p-500-companies/main/data/constituents.csv"
SEC_TICKERS_URL = "https://www.sec.gov/files/company_tickers_exchange.json"
SEC_FRAMES_URL = "https://data.sec.gov/api/xbrl/frames/dei/EntityCommonStockSharesOutstanding/shares"
FRENCH_URL = "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp"
FRENCH_FILES = {"ff": "F-F_Research_Data_Factors_daily_CSV.zip", "mom": "F-F_Momentum_Factor_daily_CSV.zip"}
SEC_EXCHANGES = {"Nasdaq": "NMS", "NYSE": "NYQ", "CBOE": "BTS"}
"""SEC exchange names -> the listing codes of the sample's reference table (the rotation's QQQ universe reads NMS)."""
LETF_DESCRIPTIVE = ["name", "issuer", "leverage", "underlying", "underlying_kind", "underlying_proxy"]

Getter = Callable[[str, dict], bytes]


@dataclass(frozen=True)
class Fetched:
    """An adapter's answer: the rows it read, its attribution line (no paths) and the date they describe."""

    frame: pd.DataFrame
    source: str
    as_of: dt.date


@dataclass
class RefreshContext:
    """What an adapter may use: the store (current tables, closes), an HTTP getter, its settings."""

    store: Store
    get: Getter
    url: str | None = None
    file: Path | None = None
    today: dt.date = field(default_factory=dt.date.today)
    sec_user_agent: str = "nightdesk admin@nightdesk.invalid"
    min_members: int = 400
    """a constituents table with fewer rows is refused (a truncated download must not replace membership)"""
    min_cap_coverage: float = 0.8
    """a cap table matching fewer of the members is refused"""


class Adapter(Protocol):
    """A source of one reference input."""

    name: str

    def fetch(self, ctx: RefreshContext) -> Fetched:
        """Read the source; the frame's columns depend on the input (see each ``merge_*``)."""


@dataclass(frozen=True)
class RefreshResult:
    """One refresh: what changed, where it came from, as of when."""

    what: str
    source: str
    as_of: dt.date
    generation: int
    summary: str
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"what": self.what, "source": self.source, "as_of": self.as_of.isoformat(), "generation": self.generation,
                "summary": self.summary, **self.details}


def http_getter(timeout_s: float, user_agent: str | None = None) -> Getter:
    """A GET that returns the body, or raises :class:`DataError` naming the URL and status."""
    import httpx

    def get(url: str, headers: dict | None = None) -> bytes:
        h = {"User-Agent": user_agent} if user_agent else {}
        h.update(headers or {})
        try:
            r = httpx.get(url, headers=h, timeout=timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise ProviderIOError(f"{url}: request failed ({exc.__class__.__name__}: {exc})") from None
        if r.status_code == 429 or r.status_code >= 500:  # the server's trouble: worth a retry
            raise ProviderIOError(f"{url}: HTTP {r.status_code}")
        if r.status_code != 200:
            raise DataError(f"{url}: HTTP {r.status_code}")
        return r.content

    return get


# ----- index membership -------------------------------------------------------------------------
def parse_constituents_csv(body: bytes, *, snapshot: dt.date, min_rows: int = 400) -> pd.DataFrame:
    """The datasets/s-and-p-500-companies CSV (``Symbol,Security,GICS Sector,GICS Sub-Industry,...``) ->
    rows of the ``sectors`` table for one snapshot (tickers with '-' for share classes, as Yahoo)."""
    raw = pd.read_csv(io.BytesIO(body))
    need = {"Symbol", "Security", "GICS Sector"}
    if need - set(raw.columns):
        raise DataError(f"constituents table lacks column(s) {sorted(need - set(raw.columns))}")
    out = pd.DataFrame({
        "snapshot": snapshot.isoformat(),
        "ticker": raw["Symbol"].astype(str).str.strip().str.replace(".", "-", regex=False),
        "name": raw["Security"],
        "sector": raw["GICS Sector"],
        "sub_industry": raw.get("GICS Sub-Industry", pd.Series(pd.NA, index=raw.index)),
    })
    if len(out) < min_rows or out["ticker"].duplicated().any():
        raise DataError(f"constituents table: {len(out)} rows, {int(out['ticker'].duplicated().sum())} duplicate tickers; an S&P 500 table has about 503 unique")
    return out


class DatasetsGithubMembership:
    name = "datasets-github"

    def fetch(self, ctx: RefreshContext) -> Fetched:
        rows = parse_constituents_csv(ctx.get(ctx.url or CONSTITUENTS_URL, {}), snapshot=ctx.today, min_rows=ctx.min_members)
        return Fetched(rows, f"S&P 500 constituents with GICS sector (datasets/s-and-p-500-companies, ODC-PDDL), read {ctx.today}", ctx.today)


class FileMembership:
    """A vendor file: the constituents CSV layout, or the ``sectors`` layout (``snapshot,ticker,name,sector,sub_industry``)."""

    name = "file"

    def fetch(self, ctx: RefreshContext) -> Fetched:
        path = _need_file(ctx, "membership")
        head = pd.read_csv(path, nrows=0).columns
        if "snapshot" in head:
            rows = pd.read_csv(path)
            snap = pd.Timestamp(rows["snapshot"].max()).date()
            rows = rows[pd.to_datetime(rows["snapshot"]) == pd.Timestamp(snap)].assign(snapshot=snap.isoformat())
        else:
            snap = ctx.today
            rows = parse_constituents_csv(path.read_bytes(), snapshot=snap, min_rows=ctx.min_members)
        return Fetched(rows, "index membership: vendor file", snap)


def merge_membership(current: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Add (or replace) the new snapshot; earlier snapshots stay (membership is point in time)."""
    snap = new["snapshot"].iloc[0]
    keep = current[current["snapshot"] != snap]
    prev_snap = keep["snapshot"].max() if len(keep) else None
    prev = set(keep.loc[keep["snapshot"] == prev_snap, "ticker"]) if prev_snap else set()
    now = set(new["ticker"])
    out = pd.concat([keep, new[["snapshot", "ticker", "name", "sector", "sub_industry"]]], ignore_index=True)
    out = out.sort_values("snapshot", kind="stable").reset_index(drop=True)
    return out, {"snapshot": snap, "members": len(now), "added": sorted(now - prev), "removed": sorted(prev - now)}


# ----- shares / market caps ---------------------------------------------------------------------
def parse_sec_tickers(body: bytes) -> pd.DataFrame:
    """``company_tickers_exchange.json`` (``{"fields": [cik, name, ticker, exchange], "data": [...]}``) -> frame."""
    try:
        doc = json.loads(body)
        frame = pd.DataFrame(doc["data"], columns=doc["fields"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"SEC company tickers: unexpected format ({exc})") from None
    frame["ticker"] = frame["ticker"].astype(str).str.upper().str.replace(".", "-", regex=False)
    return frame


def parse_sec_frame(body: bytes) -> pd.DataFrame:
    """An XBRL frames response (``{"ccp": ..., "data": [{"cik", "end", "val", ...}]}``) -> ``cik, end, shares``."""
    try:
        doc = json.loads(body)
        frame = pd.DataFrame(doc["data"])[["cik", "end", "val"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"SEC frames: unexpected format ({exc})") from None
    return frame.rename(columns={"val": "shares"}).assign(end=lambda f: pd.to_datetime(f["end"]))


def recent_quarters(today: dt.date, n: int = 2) -> list[str]:
    """The last ``n`` calendar quarters that have ended, newest first, as frames periods (``CY2026Q2I``).

    Examples
    --------
    >>> recent_quarters(dt.date(2026, 8, 3))
    ['CY2026Q2I', 'CY2026Q1I']
    """
    q = (today.month - 1) // 3  # quarters ended this year
    y = today.year
    out = []
    for _ in range(n):
        if q == 0:
            y, q = y - 1, 4
        out.append(f"CY{y}Q{q}I")
        q -= 1
    return out


def caps_from_shares(shares: pd.DataFrame, closes: pd.Series, members: list[str], *, as_of: dt.date) -> pd.DataFrame:
    """``reference`` rows: market cap = shares x close on ``as_of``; weight = cap over the members' total.

    ``shares`` has ``ticker, cik, exchange, shares``. Share classes of one company (one CIK, e.g.
    GOOGL/GOOG) split the company's shares evenly, so the company is not counted twice.

    Examples
    --------
    >>> sh = pd.DataFrame({"ticker": ["A", "B", "C"], "cik": [1, 2, 2], "exchange": ["NYQ"] * 3, "shares": [10.0, 40.0, 40.0]})
    >>> caps_from_shares(sh, pd.Series({"A": 2.0, "B": 1.0, "C": 1.0}), ["A", "B", "C"], as_of=dt.date(2026, 8, 3))["market_cap_usd"].tolist()
    [20.0, 20.0, 20.0]
    """
    sh = shares[shares["ticker"].isin(members)].copy()
    sh["classes"] = sh.groupby("cik")["ticker"].transform("size")
    sh["market_cap_usd"] = sh["shares"] / sh["classes"] * sh["ticker"].map(closes).astype(float)
    sh = sh[sh["market_cap_usd"] > 0]
    total = sh["market_cap_usd"].sum()
    out = pd.DataFrame({"ticker": sh["ticker"], "exchange": sh["exchange"], "market_cap_usd": sh["market_cap_usd"],
                        "index_weight": sh["market_cap_usd"] / total, "as_of": as_of.isoformat()})
    return out.sort_values("market_cap_usd", ascending=False).reset_index(drop=True)


def _members_and_closes(ctx: RefreshContext) -> tuple[list[str], pd.Series, dt.date]:
    m = ctx.store.manifest()
    sectors = ctx.store.read_table("sectors", manifest=m)
    members = sorted(sectors.loc[sectors["snapshot"] == sectors["snapshot"].max(), "ticker"])
    last = dt.date.fromisoformat(m["prices"]["last"])
    px = ctx.store.read_prices(last - dt.timedelta(days=10), last, manifest=m).ffill()
    return members, px.iloc[-1], last


class SecCaps:
    """Shares outstanding from SEC filings (cover-page ``dei:EntityCommonStockSharesOutstanding``) x the store's last close."""

    name = "sec"

    def fetch(self, ctx: RefreshContext) -> Fetched:
        members, closes, last = _members_and_closes(ctx)
        base = (ctx.url or "").rstrip("/")
        tickers = parse_sec_tickers(ctx.get(f"{base}/files/company_tickers_exchange.json" if base else SEC_TICKERS_URL, {}))
        frames = []
        for period in recent_quarters(ctx.today):  # newest first; a company missing from it falls back to the one before
            url = f"{base}/api/xbrl/frames/dei/EntityCommonStockSharesOutstanding/shares/{period}.json" if base else f"{SEC_FRAMES_URL}/{period}.json"
            try:
                frames.append(parse_sec_frame(ctx.get(url, {})))
            except DataError:
                if not frames and period == recent_quarters(ctx.today)[-1]:
                    raise
        shares = pd.concat(frames, ignore_index=True).drop_duplicates("cik", keep="first")
        joined = tickers.merge(shares, on="cik", how="inner")
        joined["exchange"] = joined["exchange"].map(SEC_EXCHANGES).fillna(joined["exchange"])
        rows = caps_from_shares(joined, closes, members, as_of=last)
        if len(rows) < ctx.min_cap_coverage * len(members):
            raise DataError(f"SEC shares: only {len(rows)} of {len(members)} members matched; refusing a partial cap table")
        return Fetched(rows, f"shares outstanding from SEC EDGAR filings (XBRL frames, public) x closes of {last}; index weights not float-adjusted", last)


class FileCaps:
    """A vendor file: ``ticker,market_cap_usd[,exchange,index_weight,as_of]`` or ``ticker,shares[,exchange]`` (x the store's last close)."""

    name = "file"

    def fetch(self, ctx: RefreshContext) -> Fetched:
        path = _need_file(ctx, "caps")
        raw = pd.read_csv(path)
        if "ticker" not in raw or not ({"market_cap_usd", "shares"} & set(raw.columns)):
            raise DataError(f"{path.name}: needs ticker and market_cap_usd or shares columns")
        members, closes, last = _members_and_closes(ctx)
        if "exchange" not in raw:
            raw["exchange"] = pd.NA
        if "market_cap_usd" not in raw:
            rows = caps_from_shares(raw.assign(cik=raw["ticker"]), closes, members, as_of=last)
            return Fetched(rows, "shares outstanding: vendor file", last)
        as_of = pd.to_datetime(raw["as_of"]).max().date() if "as_of" in raw else last
        caps = raw["market_cap_usd"].astype(float)
        weight = raw["index_weight"] if "index_weight" in raw else caps / caps[raw["ticker"].isin(members)].sum()
        rows = pd.DataFrame({"ticker": raw["ticker"], "exchange": raw["exchange"], "market_cap_usd": caps,
                             "index_weight": weight, "as_of": as_of.isoformat()})
        return Fetched(rows, "market caps: vendor file", as_of)


def merge_caps(current: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The new cap table replaces the old; a ticker the source lacks keeps its old exchange code."""
    old_ex = current.drop_duplicates("ticker").set_index("ticker")["exchange"]
    out = new.copy()
    out["exchange"] = out["exchange"].where(out["exchange"].notna(), out["ticker"].map(old_ex))
    return out, {"tickers": len(out), "dropped": sorted(set(current["ticker"]) - set(out["ticker"]))[:50]}


# ----- LETF AUM ---------------------------------------------------------------------------------
def parse_yahoo_info(info_by_ticker: dict[str, dict | None], *, today: dt.date) -> pd.DataFrame:
    """``yfinance`` ``Ticker.info`` dicts -> ``ticker, aum_usd, aum_as_of, status`` (``closed`` when
    Yahoo has no quote for the fund, ``open`` with AUM, ``unknown`` without)."""
    rows = []
    for t, info in info_by_ticker.items():
        if not info or info.get("quoteType") is None and info.get("totalAssets") is None:
            rows.append({"ticker": t, "aum_usd": np.nan, "aum_as_of": None, "status": "closed"})
            continue
        aum = info.get("totalAssets")
        rows.append({"ticker": t, "aum_usd": float(aum) if aum else np.nan, "aum_as_of": today.isoformat() if aum else None,
                     "status": "open" if aum else "unknown", "name": info.get("longName"), "issuer": info.get("fundFamily")})
    return pd.DataFrame(rows)


class YahooAum:
    name = "yahoo"

    def fetch(self, ctx: RefreshContext) -> Fetched:  # pragma: no cover - network (the parser is tested on stored bodies)
        from nightdesk.marketdata.yfinance_provider import _yf

        yf = _yf()
        reg = ctx.store.read_table("letf_registry")
        infos = {}
        for t in reg["ticker"]:
            try:
                infos[t] = yf.Ticker(t).get_info()
            except Exception as exc:  # noqa: BLE001 - yfinance raises many types; 404 means no such quote
                if "404" in str(exc) or "Not Found" in str(exc):
                    infos[t] = None
                else:
                    raise DataError(f"Yahoo AUM for {t}: {exc.__class__.__name__}: {exc}") from None
        return Fetched(parse_yahoo_info(infos, today=ctx.today), f"fund total assets from Yahoo Finance (via yfinance), {ctx.today}", ctx.today)


class FileAum:
    """A vendor file: ``ticker,aum_usd,aum_as_of`` and optionally ``status`` (open/closed) and the
    registry's descriptive columns (``name,issuer,leverage,underlying,underlying_kind,underlying_proxy``) for new funds."""

    name = "file"

    def fetch(self, ctx: RefreshContext) -> Fetched:
        path = _need_file(ctx, "letf_aum")
        raw = pd.read_csv(path)
        missing = {"ticker", "aum_usd", "aum_as_of"} - set(raw.columns)
        if missing:
            raise DataError(f"{path.name}: missing column(s) {sorted(missing)}")
        raw["aum_usd"] = pd.to_numeric(raw["aum_usd"], errors="coerce")
        raw["status"] = raw.get("status", pd.Series("open", index=raw.index)).fillna("open")
        as_of = pd.to_datetime(raw["aum_as_of"], errors="coerce").max()
        return Fetched(raw, "fund AUM: vendor file", as_of.date() if pd.notna(as_of) else ctx.today)


def merge_letf(current: pd.DataFrame, new: pd.DataFrame, *, source: str) -> tuple[pd.DataFrame, dict]:
    """Update AUM of known funds, add new funds that come with leverage and underlying, drop closed ones.

    A new ticker without its descriptive columns is listed (``needs_description``) and not added:
    its leverage and underlying cannot be guessed.
    """
    reg = current.set_index("ticker")
    new = new.drop_duplicates("ticker", keep="last").set_index("ticker")
    closed = sorted(t for t in new.index[new["status"] == "closed"] if t in reg.index)
    upd = new[(new["status"] != "closed") & new["aum_usd"].notna()]
    known = upd.index.intersection(reg.index)
    reg.loc[known, "aum_usd"] = upd.loc[known, "aum_usd"].astype(float)
    reg.loc[known, "aum_as_of"] = upd.loc[known, "aum_as_of"].astype(str)
    reg.loc[known, "aum_source"] = source
    fresh = upd.index.difference(reg.index)
    described = [t for t in fresh if all(c in upd.columns and pd.notna(upd.at[t, c]) for c in ("leverage", "underlying", "underlying_kind", "underlying_proxy"))]
    if described:
        add = upd.loc[described].reindex(columns=reg.columns)
        add["aum_source"] = source
        reg = pd.concat([reg, add])
    reg = reg.drop(index=closed)
    out = reg.reset_index().rename(columns={"index": "ticker"})
    out["leverage"] = pd.to_numeric(out["leverage"], errors="coerce")
    return out, {"updated": len(known), "added": described, "closed": closed, "needs_description": sorted(set(fresh) - set(described)),
                 "no_aum": sorted(new.index[(new["status"] != "closed") & new["aum_usd"].isna()].intersection(reg.index))}


# ----- Ken French factors -----------------------------------------------------------------------
def parse_french_csv(text: str) -> tuple[pd.DataFrame, str | None]:
    """A French Data Library daily CSV (header text, then ``YYYYMMDD, v, ...``) -> (frame in percent, CRSP vintage)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(","))
    except StopIteration:
        raise DataError("French factors: no header row (',Mkt-RF,...') in the file") from None
    body = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.strip() or not line.strip()[0].isdigit():
            break
        body.append(line)
    frame = pd.read_csv(io.StringIO("\n".join(body)), index_col=0)
    frame.index = pd.to_datetime(frame.index.astype(str).str.strip(), format="%Y%m%d")
    frame.columns = [c.strip().lower().replace("-", "_") for c in frame.columns]
    vintage = re.search(r"using the (\d{6}) CRSP database", text)
    return frame.replace([-99.99, -999.0], np.nan), (vintage.group(1) if vintage else None)


def french_zip_csv(body: bytes) -> str:
    """The one CSV inside a French Data Library zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            name = next(n for n in zf.namelist() if n.lower().endswith(".csv"))
            return zf.read(name).decode("latin-1")
    except (zipfile.BadZipFile, StopIteration) as exc:
        raise DataError(f"French factors: not a zip with a CSV ({exc})") from None


def combine_factors(ff: pd.DataFrame, mom: pd.DataFrame) -> pd.DataFrame:
    """Fama-French daily factors joined with momentum, float32 percent, index ``date`` (the sample's layout)."""
    out = ff.join(mom, how="outer")
    out.index.name = "date"
    need = ["mkt_rf", "smb", "hml", "rf", "mom"]
    if set(need) - set(out.columns):
        raise DataError(f"French factors: missing column(s) {sorted(set(need) - set(out.columns))}")
    return out[need].astype("float32")


class FrenchFactors:
    name = "french"

    def fetch(self, ctx: RefreshContext) -> Fetched:
        base = (ctx.url or FRENCH_URL).rstrip("/")
        ff, vintage = parse_french_csv(french_zip_csv(ctx.get(f"{base}/{FRENCH_FILES['ff']}", {})))
        mom, _ = parse_french_csv(french_zip_csv(ctx.get(f"{base}/{FRENCH_FILES['mom']}", {})))
        out = combine_factors(ff, mom)
        v = f", {vintage} CRSP vintage" if vintage else ""
        return Fetched(out, f"Kenneth R. French Data Library, daily Fama-French factors and momentum (UMD){v}", out.index.max().date())


class FileFactors:
    """A vendor file: Parquet or CSV with a ``date`` index/column and ``mkt_rf,smb,hml,rf,mom`` in percent."""

    name = "file"

    def fetch(self, ctx: RefreshContext) -> Fetched:
        path = _need_file(ctx, "factors")
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        if "date" in raw.columns:
            raw = raw.set_index("date")
        raw.index = pd.to_datetime(raw.index)
        out = combine_factors(raw, pd.DataFrame(index=raw.index))
        return Fetched(out, "daily factors: vendor file", out.index.max().date())


# ----- wiring -----------------------------------------------------------------------------------
REFRESHERS: dict[str, dict[str, type]] = {
    "membership": {"datasets-github": DatasetsGithubMembership, "file": FileMembership},
    "caps": {"sec": SecCaps, "file": FileCaps},
    "letf_aum": {"yahoo": YahooAum, "file": FileAum},
    "factors": {"french": FrenchFactors, "file": FileFactors},
}
"""Input -> adapter name -> adapter class."""
TABLE_OF = {"membership": "sectors", "caps": "reference", "letf_aum": "letf_registry", "factors": "factors"}


def _need_file(ctx: RefreshContext, what: str) -> Path:
    if ctx.file is None:
        raise DataError(f"refresh {what}: source 'file' needs a file (--file or settings refresh.{what}.file)")
    if not ctx.file.is_file():
        raise DataError(f"refresh {what}: {ctx.file}: no such file")
    return ctx.file


def apply_refresh(store: Store, what: str, fetched: Fetched) -> RefreshResult:
    """Merge what an adapter read into its table and commit it (one atomic commit)."""
    table = TABLE_OF[what]
    m = store.manifest()
    current = store.read_table(table, manifest=m)
    if what == "membership":
        merged, details = merge_membership(current, fetched.frame)
    elif what == "caps":
        merged, details = merge_caps(current, fetched.frame)
    elif what == "letf_aum":
        merged, details = merge_letf(current, fetched.frame, source=fetched.source)
    else:
        merged, details = fetched.frame, {"first": str(fetched.frame.index.min().date()), "last": str(fetched.frame.index.max().date())}
    as_of = table_as_of(table, merged) if what in ("membership", "letf_aum") else fetched.as_of
    summary = f"refreshed {what} from {fetched.source}; as of {as_of}"
    commit = store.replace_table(table, merged, source=fetched.source, as_of=as_of, summary=summary)
    return RefreshResult(what, fetched.source, as_of, commit.generation, summary, details)


def refresh_table(what: str, settings: "Settings", *, file: Path | None = None, today: dt.date | None = None,
                  getter: Getter | None = None, **checks) -> RefreshResult:
    """Refresh one input (``membership``, ``caps``, ``letf_aum``, ``factors``) of the store ``settings`` name.

    ``file`` (or ``settings.refresh.<what>.file``) selects the vendor-file adapter.
    """
    if what not in REFRESHERS:
        raise DataError(f"unknown reference input {what!r}; one of {', '.join(REFRESHERS)}")
    cfg = getattr(settings.refresh, what)
    file = file or cfg.file
    name = "file" if file is not None else cfg.source
    if name not in REFRESHERS[what]:
        raise DataError(f"refresh.{what}.source: unknown adapter {name!r}; one of {', '.join(REFRESHERS[what])}")
    store = Store(settings.store.dir)
    store.manifest()  # a clear error before any download when there is no store
    ctx = RefreshContext(store=store, get=getter or http_getter(settings.refresh.timeout_s, settings.refresh.sec_user_agent),
                         url=cfg.url, file=file, today=today or dt.date.today(), sec_user_agent=settings.refresh.sec_user_agent, **checks)
    fetched = REFRESHERS[what][name]().fetch(ctx)
    return apply_refresh(store, what, fetched)
