"""Chart SVGs to PDF pages (librsvg) with slim fonts, for stamping into the WeasyPrint layout.

Kept apart from :mod:`rendering.pdf` so the child process that runs it does not import
WeasyPrint (about half a second of CPU that would compete with the layout it overlaps).
"""
from __future__ import annotations

import io
import json
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


def chart_pages(jobs: dict[Path, list[Path]]) -> None:
    """For each ``target -> SVGs`` job, write one PDF page per SVG, in order, to ``target``.

    One librsvg run (C, fast) converts every SVG of every job: cairo embeds each font once for
    the lot instead of once per edition. The fonts are then slimmed once and the pages split
    into one PDF per job.
    """
    svgs = [p for paths in jobs.values() for p in paths]
    try:
        run = subprocess.run(["rsvg-convert", "--format=pdf", *map(str, svgs)], capture_output=True, timeout=120)
    except FileNotFoundError:
        raise RenderError("rsvg-convert is missing (apt-get install librsvg2-bin)") from None
    if run.returncode != 0:
        raise RenderError(f"rsvg-convert failed on {[p.name for p in svgs]}: {run.stderr.decode(errors='replace').strip()}")
    with pikepdf.open(io.BytesIO(run.stdout)) as pdf:
        _slim_cff_fonts(pdf)
        first = 0
        for target, paths in jobs.items():
            with pikepdf.new() as out:
                out.pages.extend(pdf.pages[first : first + len(paths)])
                out.save(target)
            first += len(paths)


def start_chart_pages(jobs: dict[Path, list[Path]]) -> subprocess.Popen:
    """Run :func:`chart_pages` in a child process, so it overlaps the single-threaded WeasyPrint layout."""
    args = [sys.executable, "-m", "rendering.chartpdf", json.dumps({str(t): [str(p) for p in svgs] for t, svgs in jobs.items()})]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def open_chart_pages(proc: subprocess.Popen, targets: list[Path]) -> list[pikepdf.Pdf]:
    """Wait for :func:`start_chart_pages` and open its PDFs, in order; a failure is a :class:`RenderError`."""
    _, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RenderError(f"chart conversion failed: {err.decode(errors='replace').strip().splitlines()[-1:]}")
    return [pikepdf.open(io.BytesIO(t.read_bytes())) for t in targets]


if __name__ == "__main__":  # the child process of start_chart_pages
    try:
        chart_pages({Path(t): [Path(p) for p in svgs] for t, svgs in json.loads(sys.argv[1]).items()})
    except RenderError as exc:
        sys.exit(str(exc))
