"""Chart SVGs to PDF pages (librsvg) with slim fonts, for stamping into the WeasyPrint layout.

Kept apart from :mod:`rendering.pdf` so the child process that runs it does not import
WeasyPrint (about half a second of CPU that would compete with the layout it overlaps).
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pikepdf
from fontTools.cffLib import CFFFontSet


class RenderError(RuntimeError):
    """The PDF cannot be produced correctly on this machine (fonts, subsetter, SVG converter)."""


def _slim_cff_fonts(pdf: pikepdf.Pdf) -> None:
    """Desubroutinize the CFF font subsets cairo embeds: it keeps all of Noto Sans CJK's
    subroutines (about 0.9 MB a font); inlining the used ones leaves about 25 KB."""
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/CIDFontType0C":
            cff = CFFFontSet()
            cff.decompile(io.BytesIO(obj.read_bytes()), None)
            cff.desubroutinize()
            out = io.BytesIO()
            cff.compile(out, SimpleNamespace(recalcBBoxes=False))
            obj.write(out.getvalue())


def chart_pages(svg_paths: list[Path], target: Path) -> None:
    """Write one PDF page per SVG, in order, to ``target``: librsvg (C, fast) then slim fonts."""
    try:
        run = subprocess.run(["rsvg-convert", "--format=pdf", *map(str, svg_paths)], capture_output=True, timeout=120)
    except FileNotFoundError:
        raise RenderError("rsvg-convert is missing (apt-get install librsvg2-bin)") from None
    if run.returncode != 0:
        raise RenderError(f"rsvg-convert failed on {[p.name for p in svg_paths]}: {run.stderr.decode(errors='replace').strip()}")
    with pikepdf.open(io.BytesIO(run.stdout)) as pdf:
        _slim_cff_fonts(pdf)
        pdf.save(target)


def start_chart_pages(svg_paths: list[Path], target: Path) -> subprocess.Popen:
    """Run :func:`chart_pages` in a child process, so it overlaps the (single-threaded) WeasyPrint layout."""
    args = [sys.executable, "-m", "rendering.chartpdf", str(target), *map(str, svg_paths)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def open_chart_pages(proc: subprocess.Popen, target: Path) -> pikepdf.Pdf:
    """Wait for :func:`start_chart_pages` and open its PDF; a failure is a :class:`RenderError`."""
    _, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RenderError(f"chart conversion failed: {err.decode(errors='replace').strip().splitlines()[-1:]}")
    return pikepdf.open(io.BytesIO(target.read_bytes()))


if __name__ == "__main__":  # the child process of start_chart_pages
    try:
        chart_pages([Path(a) for a in sys.argv[2:]], Path(sys.argv[1]))
    except RenderError as exc:
        sys.exit(str(exc))
