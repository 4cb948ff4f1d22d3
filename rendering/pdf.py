"""PDF editions with WeasyPrint: sandboxed fetching, real CJK fonts, fast font subsetting.

Charts are vector in the PDF but are not drawn by WeasyPrint's Python SVG renderer (about 2 s
an edition for 11 charts). The HTML for print holds an empty, correctly sized slot per chart;
librsvg (``rsvg-convert``, C) turns the chart SVGs into one PDF page each, and qpdf (pikepdf)
stamps each page into its slot as a form XObject. The bilingual edition is the editions' PDFs
joined page for page (no second layout or font subsetting).

librsvg sees the charts' CJK fonts desubroutinized (:func:`chart_fontconfig`): cairo's subsets of
the system's Noto Sans CJK keep every subroutine of the font (about 0.9 MB a font and PDF).
"""
from __future__ import annotations

import ctypes.util
import hashlib
import io
import mimetypes
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname
from xml.sax.saxutils import escape

import pikepdf
import uharfbuzz as hb
from weasyprint import HTML, Document
from weasyprint.urls import URLFetcher, URLFetcherResponse, URLFetchingError

from nightdesk.rendering.charts import DEFAULT_FONTS, FONTS
from nightdesk.rendering.html import SLOT_END, slot_id

PT_PER_CSS_PX = 0.75


class RenderError(RuntimeError):
    """The PDF cannot be produced correctly on this machine (fonts, subsetter, SVG converter)."""


class SandboxFetcher(URLFetcher):
    """Refuses every URL except ``data:`` and regular files inside ``root``.

    A ``file:`` URL is decoded exactly once, as urllib's file handler would (``%2e%2e`` is
    ``..``, ``%2F`` is ``/``), normalised and resolved (symlinks followed) *before* the
    containment check, and the file is then read from that resolved path, so what was checked is
    what is read. A path still holding percent-escapes after the decoding (double encoding, as
    ``%252e%252e``) is refused outright, as are other hosts than ``localhost``, folders and
    anything that is not a regular file.
    """

    def __init__(self, root: Path):
        super().__init__(allowed_protocols=("file", "data"))
        self.root = Path(root).resolve()

    def resolve(self, url: str) -> Path:
        """The file inside ``root`` that a ``file:`` URL names.

        Raises
        ------
        URLFetchingError
            The URL is not a plain local file URL, or names something outside ``root``.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            raise URLFetchingError(f"blocked: {url} is not a local file URL")
        path = url2pathname(parts.path)
        if re.search(r"%[0-9A-Fa-f]{2}", path) or "\x00" in path:
            raise URLFetchingError(f"blocked: {url} is encoded more than once")
        target = Path(os.path.normpath(path)).resolve()
        if target != self.root and self.root not in target.parents:
            raise URLFetchingError(f"blocked: {url} is outside the note folder")
        if not target.is_file():
            raise URLFetchingError(f"blocked: {url} is not a file in the note folder")
        return target

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        target = self.resolve(url)
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return URLFetcherResponse(target.as_uri(), target.read_bytes(), {"Content-Type": mime})


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


def _cff_faces(families: list[str], weights: tuple[str, ...] = ("regular", "bold")) -> list[tuple[Path, int]]:
    """(font file, face index) fontconfig gives each family and weight, where the face is CFF-flavoured."""
    faces = []
    for family in families:
        for weight in weights:
            out = subprocess.run(["fc-match", "-f", "%{file}\t%{index}\t%{fontformat}\t%{family}", f"{family}:weight={weight}"],
                                 capture_output=True, text=True, timeout=20).stdout.split("\t")
            if len(out) == 4 and out[2] == "CFF" and family in out[3].split(","):
                faces.append((Path(out[0]), int(out[1])))
    return sorted(set(faces))


def _desubroutinized(path: Path, index: int) -> bytes:
    """Face ``index`` of font file ``path`` with every glyph, table and name, subroutines inlined (HarfBuzz)."""
    face = hb.Face(hb.Blob.from_file_path(str(path)), index)
    spec = hb.SubsetInput()
    spec.keep_everything()
    spec.flags |= hb.SubsetFlags.DESUBROUTINIZE
    return hb.subset(face, spec).blob.data


def chart_fontconfig(cache_dir: Path) -> Path:
    """A fontconfig file for librsvg: the system's fonts, with the charts' CJK faces desubroutinized.

    cairo subsets a CFF font by keeping all of its subroutines, so every chart PDF would carry
    about 0.9 MB of Noto Sans CJK per face (and inlining them afterwards took 0.4 s of CPU a
    date). The same outlines without subroutines (HarfBuzz, about 0.7 s a face, once) give
    subsets of a few KB. They are written under ``cache_dir`` (about 19 MB a face), keyed by the
    source files, and reused; the source files are hidden from librsvg so it cannot pick them.

    Returns
    -------
    Path
        The ``fonts.conf`` to pass to librsvg as ``FONTCONFIG_FILE``.
    """
    faces = _cff_faces(sorted({f for fams in [DEFAULT_FONTS, *FONTS.values()] for f in fams}))
    ident = [(str(p), i, p.stat().st_size, p.stat().st_mtime_ns) for p, i in faces]
    key = hashlib.sha256(repr((ident, hb.__version__)).encode()).hexdigest()[:16]
    folder = Path(cache_dir) / "chart-fonts" / key
    conf = folder / "fonts.conf"
    if conf.exists():
        return conf
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
        tmp.chmod(0o755)
        for p, i in faces:
            (tmp / f"{p.stem}-{i}.otf").write_bytes(_desubroutinized(p, i))
        rejected = "".join(f"<glob>{escape(str(p))}</glob>" for p in sorted({p for p, _ in faces}))
        (tmp / "fonts.conf").write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
            f'  <cachedir>{escape(str(folder / "cache"))}</cachedir>\n'
            '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
            f'  <dir>{escape(str(folder))}</dir>\n'
            f'  <selectfont><rejectfont>{rejected}</rejectfont></selectfont>\n</fontconfig>\n', encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"cache_dir {cache_dir}: cannot write the charts' fonts there ({exc.strerror}); "
                          "set NIGHTDESK_CACHE_DIR or cache_dir in nightdesk.toml to a writable folder") from None
    try:
        os.rename(tmp, folder)  # atomic: a concurrent worker's copy is the same; the first one in wins
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return conf


def prepare_fonts(cache_dir: Path) -> Path:
    """:func:`check_fonts`, then :func:`chart_fontconfig`: what a render needs before its first
    note. Returns the charts' ``fonts.conf``."""
    check_fonts()
    return chart_fontconfig(cache_dir)


def start_chart_pages(svgs: list[Path], target: Path, fontconfig: Path) -> subprocess.Popen:
    """Start librsvg (C, fast) converting ``svgs`` into ``target``, one page each, in order.

    One run for every chart of every edition: cairo embeds each font once for the lot, and the
    conversion overlaps the (single-threaded) WeasyPrint layout. ``fontconfig`` is
    :func:`chart_fontconfig`'s file. Read the result with :func:`chart_pages`.
    """
    try:
        return subprocess.Popen(["rsvg-convert", "--format=pdf", "--output", str(target), *map(str, svgs)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "FONTCONFIG_FILE": str(fontconfig)})
    except FileNotFoundError:
        raise RenderError("rsvg-convert is missing (apt-get install librsvg2-bin)") from None


def chart_pages(proc: subprocess.Popen, target: Path) -> pikepdf.Pdf:
    """Wait for :func:`start_chart_pages` and open its PDF (one page per SVG, in order).
    Keep it open while its pages are stamped."""
    _, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RenderError(f"rsvg-convert failed converting the charts: {err.decode(errors='replace').strip()}")
    return pikepdf.open(io.BytesIO(target.read_bytes()))


def layout(html: str, *, base_dir: Path) -> Document:
    """Lay out one edition's print HTML (WeasyPrint), fetching only inside ``base_dir``."""
    return HTML(string=html, base_url=str(base_dir), url_fetcher=SandboxFetcher(base_dir)).render()


@dataclass
class Edition:
    """A laid-out edition and its chart pages, ready to be written (:func:`write_pdf`)."""

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


def write_pdf(edition: Edition, target: Path) -> int:
    """Write a laid-out edition as a PDF with its charts stamped in; returns bytes written.

    Raises
    ------
    RenderError
        If a chart has no slot in the layout (it would silently vanish from the PDF).
    """
    pdf = pikepdf.open(io.BytesIO(edition.doc.write_pdf()))
    slots = _slots(edition)
    missing = sorted(set(edition.charts) - {name for _, name, _ in slots})
    if missing:
        raise RenderError(f"{edition.lang} edition: no slot found in the layout for charts {missing}")
    for page_i, name, rect in slots:
        pdf.pages[page_i].add_overlay(edition.charts[name], pikepdf.Rectangle(*rect))
    pdf.save(target, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return target.stat().st_size


def join_pdfs(sources: list[Path], target: Path) -> int:
    """The editions' PDFs back to back in one file (the bilingual edition); returns bytes written.

    Pages are copied as written (no second layout, font subsetting or chart stamping); the
    first file's metadata and language stay; each edition keeps its bookmark tree and its named
    destinations, pointed at its pages in the joined file.
    """
    with pikepdf.open(sources[0]) as out:
        names = _named_dests(out, 0)
        with out.open_outline() as outline:
            for src in sources[1:]:
                with pikepdf.open(src) as other:
                    first = len(out.pages)
                    out.pages.extend(other.pages)
                    names += _named_dests(other, first, into=out)
                    with other.open_outline() as theirs:
                        outline.root.extend(_copied_item(it, other, first) for it in theirs.root)
        if names:
            names.sort(key=lambda kv: bytes(kv[0]))
            out.Root.Names = out.make_indirect(pikepdf.Dictionary(Dests=pikepdf.Dictionary(Names=pikepdf.Array([x for kv in names for x in kv]))))
        out.save(target, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return target.stat().st_size


def _page_index(pdf: pikepdf.Pdf, dest: pikepdf.Array) -> int:
    """Index in ``pdf`` of the page an explicit destination ``[page /XYZ left top zoom]`` points at."""
    return pdf.pages.index(pikepdf.Page(dest[0]))


def _copied_item(item: pikepdf.OutlineItem, src: pikepdf.Pdf, first: int) -> pikepdf.OutlineItem:
    """A bookmark (and its children) of ``src`` for a file where ``src``'s pages start at ``first``."""
    dest = item.destination
    if isinstance(dest, pikepdf.Array) and len(dest) >= 4:
        new = pikepdf.OutlineItem(item.title, first + _page_index(src, dest), "XYZ", left=float(dest[2]), top=float(dest[3]))
    else:
        new = pikepdf.OutlineItem(item.title, first)
    new.children.extend(_copied_item(c, src, first) for c in item.children)
    return new


def _named_dests(src: pikepdf.Pdf, first: int, *, into: pikepdf.Pdf | None = None) -> list[list]:
    """``[name, destination]`` pairs of ``src``'s flat ``/Dests`` name tree (WeasyPrint writes a flat one),
    re-pointed at the same pages in ``into`` where ``src``'s pages start at ``first``."""
    tree = src.Root.get("/Names", {}).get("/Dests", {}).get("/Names", [])
    target = into or src
    out = []
    for i in range(0, len(tree), 2):
        dest = tree[i + 1]
        new = pikepdf.Array([target.pages[first + _page_index(src, dest)].obj, *list(dest)[1:]])
        out.append([pikepdf.String(bytes(tree[i])), new])
    return out
