"""The store as a :class:`~marketdata.base.Provider` (``provider = "store"``): the note reads it like any other."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from nightdesk.marketdata.flows_source import FlowsConfig, flows_source_line, load_flows
from nightdesk.marketdata.store import TABLE_FILES, Store, price_sources_line


class StoreProvider:
    """Prices and reference data from one generation of a :class:`~marketdata.store.Store`.

    The manifest is read once, on first use: a commit made while this provider lives is seen
    by the next provider, never half by this one.
    """

    def __init__(self, root: Path, *, name: str = "store", flows: FlowsConfig | None = None):
        self.store = Store(Path(root))
        self.name = name
        self.flows_config = flows or FlowsConfig()
        self._manifest: dict | None = None
        self._prices: dict[tuple, pd.DataFrame] = {}

    def manifest(self) -> dict:
        """The generation this provider reads (fixed on first use)."""
        if self._manifest is None:
            self._manifest = self.store.manifest()
        return self._manifest

    @property
    def survivorship_biased(self) -> bool:
        """True when the store was seeded from the bundled sample (its universe: 2026 members only)."""
        return any(s["source"] == "sample" for s in self.manifest()["prices"].get("spans", []))

    def coverage(self) -> tuple[dt.date, dt.date]:
        p = self.manifest()["prices"]
        return dt.date.fromisoformat(p["first"]), dt.date.fromisoformat(p["last"])

    def prices(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        key = (start, end)
        if key not in self._prices:
            self._prices = {key: self.store.read_prices(start, end, manifest=self.manifest())}
        return self._prices[key]

    def reference_data(self) -> dict[str, pd.DataFrame]:
        m = self.manifest()
        return {name: self.store.read_table(name, manifest=m) for name in TABLE_FILES}

    def flows(self, start: dt.date, end: dt.date, ret_1d: pd.DataFrame) -> tuple[pd.DataFrame | None, bool]:
        result = load_flows(self.flows_config, start, end, ret_1d, px_close=lambda: self.prices(start, end))
        return result.frame, result.simulated

    def sources(self) -> dict[str, str]:
        m = self.manifest()
        out = {"prices": price_sources_line(m["prices"].get("spans", []))}
        out.update({name: m["tables"][name]["source"] for name in TABLE_FILES})  # the sample's order
        out["flows"] = flows_source_line(self.flows_config)
        return out

    def tables_as_of(self) -> dict[str, dt.date | None]:
        """Reference table -> the date its data describes, as recorded at its last refresh."""
        return {name: dt.date.fromisoformat(t["as_of"]) if t.get("as_of") else None for name, t in self.manifest()["tables"].items()}
