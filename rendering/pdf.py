"""PDF editions with WeasyPrint: sandboxed fetching, real CJK fonts, fast font subsetting.

Charts are vector in the PDF but are not drawn by WeasyPrint's Python SVG renderer (about 2 s
an edition for 11 charts). The HTML for print holds an empty, correctly sized slot per chart;
librsvg (``rsvg-convert``, C) turns the chart SVGs into one PDF page each, and qpdf (pikepdf)
stamps each page into its slot as a form XObject. The same chart pages serve the single-language
editions and the bilingual one, whose pages are the editions' laid-out pages (no second layout).
"""
from __future__ import annotations

import ctypes.util
import io
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from weasyprint import HTML, Document
from weasyprint.urls import URLFetcher, URLFetchingError

from rendering.chartpdf import RenderError  # noqa: F401 - raised here too; callers import it from this module
from rendering.html import SLOT_END, slot_id

PT_PER_CSS_PX = 0.75


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
    """Fail clearly unless fontconfig has a CJK font, HarfBuzz's subsetter loads and librsvg is installed."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=20).stdout
    except FileNotFoundError:
        raise RenderError("fontconfig (fc-list) not found; run the README's install command") from None
    if "Noto Sans CJK" not in out:
        raise RenderError("no CJK font found by fontconfig (need Noto Sans CJK: apt-get install fonts-noto-cjk); refusing to emit tofu boxes")
    from weasyprint.pdf import fonts as wp_fonts

    if ctypes.util.find_library("harfbuzz-subset") is None or not getattr(wp_fonts, "harfbuzz_subset", None):
        raise RenderError("libharfbuzz-subset0 is missing: CJK PDFs would take ~10 s each (apt-get install libharfbuzz-subset0)")
    if shutil.which("rsvg-convert") is None:
        raise RenderError("rsvg-convert is missing: the PDF's vector charts need librsvg (apt-get install librsvg2-bin)")


def layout(html: str, *, base_dir: Path) -> Document:
    """Lay out one edition's print HTML (WeasyPrint), fetching only inside ``base_dir``."""
    return HTML(string=html, base_url=str(base_dir), url_fetcher=SandboxFetcher(base_dir)).render()


@dataclass
class Edition:
    """A laid-out edition and its chart pages, ready to be written alone or inside the bilingual PDF."""

    lang: str
    doc: Document
    charts: dict[str, pikepdf.Page] = field(default_factory=dict)


def _slots(edition: Edition) -> list[tuple[int, str, tuple[float, float, float, float]]]:
    """(page index, chart name, rectangle in PDF points) for every chart slot of the edition."""
    out = []
    names = {slot_id(edition.lang, n): n for n in edition.charts}
    for p, page in enumerate(edition.doc.pages):
        for anchor_name, anchor in page.anchors.items():
            if anchor_name in names and anchor_name + SLOT_END in page.anchors:
                # an anchor is (x, y) or, in WeasyPrint >= 67, (x0, y0, x1, y1): its top-left either way
                (x0, y0), (x1, y1) = anchor[:2], page.anchors[anchor_name + SLOT_END][:2]
                h = page.height
                out.append((p, names[anchor_name], (x0 * PT_PER_CSS_PX, (h - y1) * PT_PER_CSS_PX, x1 * PT_PER_CSS_PX, (h - y0) * PT_PER_CSS_PX)))
    return out


def write_pdf(editions: list[Edition], target: Path) -> int:
    """Write one or more laid-out editions as one PDF with their charts stamped in; returns bytes written.

    Raises
    ------
    RenderError
        If a chart has no slot in the layout (it would silently vanish from the PDF).
    """
    first = editions[0].doc
    doc = first if len(editions) == 1 else first.copy([p for e in editions for p in e.doc.pages])
    pdf = pikepdf.open(io.BytesIO(doc.write_pdf()))
    offset = 0
    for e in editions:
        slots = _slots(e)
        missing = sorted(set(e.charts) - {name for _, name, _ in slots})
        if missing:
            raise RenderError(f"{e.lang} edition: no slot found in the layout for charts {missing}")
        for page_i, name, rect in slots:
            pdf.pages[offset + page_i].add_overlay(e.charts[name], pikepdf.Rectangle(*rect))
        offset += len(e.doc.pages)
    pdf.save(target, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return target.stat().st_size
