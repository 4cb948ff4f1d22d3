"""Build the bundled sample under ``marketdata/sample/`` from ``../shared/data/``.

Re-runnable: ``python scripts/build_sample.py [--shared PATH]``. This is the only code
that reads the shared reference folder; the product reads the files this writes.

Outputs (see ``marketdata/sample/README.md`` for columns):

* ``prices.parquet`` – adjusted closes, wide (date x ticker), float32, 2015-01-02 onwards,
  S&P 500 members and ETFs. Known artefacts are kept on purpose: the quality gate must
  find them at run time.
* ``sectors.csv`` – GICS sector / sub-industry per constituent snapshot (point in time).
* ``reference.csv`` – listing exchange, market cap and index weight (2024-12).
* ``letf_registry.csv`` – leveraged / inverse ETF registry.
* ``ff_factors_daily.parquet`` – Fama-French daily Mkt-RF, SMB, HML, RF and Mom, percent.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "marketdata" / "sample"
START = "2015-01-02"


def build_prices(shared: Path) -> pd.DataFrame:
    """Members + ETFs, wide, float32, from ``START``."""
    members = pd.read_parquet(shared / "prices" / "sp500_members_adjclose_2000_2026.parquet")
    etfs = pd.read_parquet(shared / "prices" / "etf_adjclose_1993_2026.parquet")
    etfs = etfs[[c for c in etfs.columns if c not in members.columns]]
    wide = members.join(etfs, how="outer").loc[START:]
    wide = wide.dropna(axis=1, how="all")
    wide.index = pd.DatetimeIndex(wide.index.date, name="date")
    wide.columns.name = None
    return wide.astype("float32").sort_index(axis=1)


def build_sectors(shared: Path) -> pd.DataFrame:
    """Stack the constituent snapshots with their snapshot date."""
    frames = []
    for path in sorted((shared / "constituents").glob("constituents_*.csv")):
        snap = path.stem.split("_")[1]
        ncols = len(path.open(encoding="utf-8").readline().split(","))
        # the 2012 snapshot has stray trailing fields (e.g. "DHR,...,Industrials,Washington D.C")
        raw = pd.read_csv(path, engine="python", on_bad_lines=lambda row: row[:ncols])
        frame = pd.DataFrame(
            {
                "snapshot": snap,
                "ticker": raw["Symbol"].str.replace(".", "-", regex=False),
                "name": raw.get("Security", raw.get("Name")),
                "sector": raw.get("GICS Sector", raw.get("Sector")),
                "sub_industry": raw.get("GICS Sub-Industry", pd.Series(pd.NA, index=raw.index)),
            }
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def build_reference(shared: Path) -> pd.DataFrame:
    """Exchange, market cap (USD) and S&P 500 weight as of 2024-12."""
    raw = pd.read_csv(shared / "constituents" / "sp500_marketcap_weights_2024-12.csv", encoding="utf-8-sig")
    return pd.DataFrame(
        {
            "ticker": raw["Symbol"].str.replace(".", "-", regex=False),
            "exchange": raw["Exchange"],
            "market_cap_usd": raw["Marketcap"].astype(float),
            "index_weight": raw["Weight"].astype(float),
            "as_of": "2024-12-31",
        }
    )


def _read_french(path: Path) -> pd.DataFrame:
    """Parse a Ken French daily CSV (the refresh adapter's parser)."""
    from nightdesk.marketdata.refresh import parse_french_csv

    return parse_french_csv(path.read_text(encoding="latin-1"))[0]


def build_factors(shared: Path) -> pd.DataFrame:
    """Fama-French daily factors joined with the momentum factor, percent."""
    ff = _read_french(shared / "french" / "F-F_Research_Data_Factors_daily.csv")
    mom = _read_french(shared / "french" / "F-F_Momentum_Factor_daily.csv")
    out = ff.join(mom, how="outer")
    out.index.name = "date"
    return out.astype("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    prices = build_prices(args.shared)
    prices.to_parquet(OUT / "prices.parquet", compression="zstd", compression_level=19)
    build_sectors(args.shared).to_csv(OUT / "sectors.csv", index=False)
    build_reference(args.shared).to_csv(OUT / "reference.csv", index=False)
    pd.read_csv(args.shared / "etf" / "letf_registry.csv").to_csv(OUT / "letf_registry.csv", index=False)
    build_factors(args.shared).to_parquet(OUT / "ff_factors_daily.parquet", compression="zstd")
    total = sum(p.stat().st_size for p in OUT.iterdir()) / 1e6
    print(f"prices {prices.shape}, {prices.index[0].date()} -> {prices.index[-1].date()}; sample {total:.1f} MB")


if __name__ == "__main__":
    main()
