"""PDF editions with WeasyPrint: sandboxed fetching, real CJK fonts, fast font subsetting."""
from __future__ import annotations

import ctypes.util
import subprocess
from pathlib import Path

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetchingError


class RenderError(RuntimeError):
    """The PDF cannot be produced correctly on this machine (fonts, subsetter)."""


class SandboxFetcher(URLFetcher):
    """Refuses every URL except ``data:`` and files inside ``root``."""

    def __init__(self, root: Path):
        super().__init__(allowed_protocols=("file", "data"))
        self.root = Path(root).resolve()

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if url.startswith("file://"):
            target = Path(url.removeprefix("file://")).resolve()
            if target == self.root or self.root in target.parents:
                return super().fetch(url, headers)
        raise URLFetchingError(f"blocked: {url} is outside the note folder")


def check_fonts() -> None:
    """Fail clearly unless fontconfig has a CJK font and HarfBuzz's subsetter is loadable."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=20).stdout
    except FileNotFoundError:
        raise RenderError("fontconfig (fc-list) not found; run the README's install command") from None
    if "Noto Sans CJK" not in out:
        raise RenderError("no CJK font found by fontconfig (need Noto Sans CJK: apt-get install fonts-noto-cjk); refusing to emit tofu boxes")
    from weasyprint.pdf import fonts as wp_fonts

    if ctypes.util.find_library("harfbuzz-subset") is None or not getattr(wp_fonts, "harfbuzz_subset", None):
        raise RenderError("libharfbuzz-subset0 is missing: CJK PDFs would take ~10 s each (apt-get install libharfbuzz-subset0)")


def write_pdf(html: str, target: Path, *, base_dir: Path) -> int:
    """Render ``html`` to ``target``; returns the file size in bytes."""
    HTML(string=html, base_url=str(base_dir), url_fetcher=SandboxFetcher(base_dir)).write_pdf(target)
    return target.stat().st_size
