"""The project's own configuration tables: theme baskets and the GICS hierarchy (TOML files
beside this module, versioned with the code)."""
from __future__ import annotations

import tomllib
from importlib import resources


def load_themes() -> dict[str, dict]:
    """Theme baskets from ``nightdesk/themes.toml``: key -> ``{"en", "zh", "tickers"}``."""
    return tomllib.loads((resources.files("nightdesk") / "themes.toml").read_text(encoding="utf-8"))["themes"]


def load_gics() -> dict[str, str]:
    """GICS sub-industry -> industry group, from ``nightdesk/gics.toml``."""
    groups = tomllib.loads((resources.files("nightdesk") / "gics.toml").read_text(encoding="utf-8"))["industry_groups"]
    return {sub: group for group, subs in groups.items() for sub in subs}
