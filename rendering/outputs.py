"""Write one date's complete set of files into a staging folder, and publish it atomically."""
from __future__ import annotations

import logging
import os
import re
import time
import tempfile
from pathlib import Path

from nightdesk.facts.record import FactsRecord, to_json
from nightdesk.narrative.compose import Note, note_to_json
from nightdesk.rendering.html import nav_context, render_archive, render_index, render_note_html
from nightdesk.rendering.note_charts import chart_svgs
from nightdesk.rendering.svg_i18n import SvgWriter
from nightdesk.rendering.pdf import Edition, chart_pages, join_pdfs, layout, start_chart_pages, write_pdf
from nightdesk.rendering.publish import (
    DIR_MODE, FILE_MODE, WRITE_ERRNOS, PublishError, archive_entries, date_lock, manifest, neighbours, note_dir, note_file, pid_alive,
    promote, published_dates, staging, write_error, write_json,
)

LOG = logging.getLogger(__name__)
ARCHIVE_MARKER = "<!-- nightdesk:archive page, rewritten by every run -->"
"""Written at the end of the archive page: an ``index.html`` without it is the user's and is never overwritten."""
LEGACY_ARCHIVE_TITLE = "<title>nightdesk — archive</title>"
"""How archive pages written before the marker are recognised."""
ARCHIVE_TMP_RE = re.compile(r"^\.index\.html\.(\d+)\.tmp$")


def pdf_name(edition: str) -> str:
    """File name of an edition's PDF: ``en``, ``zh-Hant``, ``zh-Hans`` or ``bilingual``."""
    return f"note.{edition}.pdf"


def bilingual_pair(langs: list[str]) -> list[str]:
    """The editions the bilingual PDF joins: English and 繁體 when both are rendered, else all."""
    return ["en", "zh-Hant"] if {"en", "zh-Hant"} <= set(langs) else list(langs)


def note_navs(output_dir: Path | None, date: str, langs: list[str]) -> dict[str, dict]:
    """The navigation of each edition of ``date`` about to be published with ``langs``: links to the
    archive, the other editions, the PDFs and the sessions published before and after it so far
    (none when ``output_dir`` is None; the web service shows the current ones)."""
    prev, next_ = neighbours(published_dates(output_dir), date) if output_dir is not None else (None, None)
    pdfs = list(langs) + (["bilingual"] if len(bilingual_pair(langs)) > 1 else [])
    return {lang: nav_context(date, lang, langs=list(langs), pdf_editions=pdfs,
                              prev=(prev, note_file(Path(output_dir) / prev, lang)) if prev else None,
                              next_=(next_, note_file(Path(output_dir) / next_, lang)) if next_ else None)
            for lang in langs}


def write_outputs(facts: FactsRecord, notes: dict[str, Note], folder: Path, *, version: str, fontconfig: Path,
                  svg_writer: SvgWriter | None = None, navs: dict[str, dict] | None = None) -> dict:
    """facts.json, charts/, note.<lang>.json/.html/.pdf, note.bilingual.pdf, index.html, manifest.json.

    ``notes``: each edition's composed text (:func:`nightdesk.narrative.compose.compose_notes`),
    in edition order.

    ``fontconfig`` is :func:`rendering.pdf.chart_fontconfig`'s file (the fonts of the PDF's charts);
    ``svg_writer`` (:class:`~nightdesk.rendering.svg_i18n.SvgWriter`) may be shared by the dates of a
    backfill chunk: its memos then serve every date. ``navs`` (:func:`note_navs`) puts each HTML
    edition's navigation bar in (the PDFs have none).

    Returns
    -------
    dict
        ``{"timings_s": {...}, "files": [...], "headline": str}``.
    """
    timings = {}
    langs = list(notes)
    (folder / "facts.json").write_text(to_json(facts), encoding="utf-8")
    (folder / "charts").mkdir()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        charts = chart_svgs(facts, langs, svg_writer)
        for lang in langs:
            (folder / f"note.{lang}.json").write_text(note_to_json(notes[lang]), encoding="utf-8")
            for name, svg in charts[lang].items():
                (folder / "charts" / f"{name}.{lang}.svg").write_text(svg, encoding="utf-8")
        order = [(lang, name) for lang in langs for name in charts[lang]]
        # librsvg converts the charts in a child process while this one lays out the editions
        job = start_chart_pages([folder / "charts" / f"{name}.{lang}.svg" for lang, name in order], Path(tmp) / "charts.pdf", fontconfig)
        timings["compose_and_charts"] = time.perf_counter() - t0
        docs = {}
        for lang in langs:
            (folder / f"note.{lang}.html").write_text(render_note_html(facts, [notes[lang]], {lang: charts[lang]}, nav=(navs or {}).get(lang)),
                                                      encoding="utf-8")
            t = time.perf_counter()
            docs[lang] = layout(render_note_html(facts, [notes[lang]], {lang: charts[lang]}, pdf=True), base_dir=folder)
            timings[f"layout_{lang}"] = time.perf_counter() - t
        t = time.perf_counter()
        chart_pdf = chart_pages(job, Path(tmp) / "charts.pdf")
        pages = dict(zip(order, chart_pdf.pages))
        timings["charts_to_pdf"] = time.perf_counter() - t
    editions = {lang: Edition(lang, docs[lang], {name: pages[lang, name] for name in charts[lang]}) for lang in langs}
    for lang in langs:
        t = time.perf_counter()
        write_pdf(editions[lang], folder / pdf_name(lang))
        timings[f"pdf_{lang}"] = time.perf_counter() - t + timings.pop(f"layout_{lang}")
    pair = bilingual_pair(langs)
    if len(pair) > 1:
        t = time.perf_counter()
        join_pdfs([folder / pdf_name(x) for x in pair], folder / pdf_name("bilingual"))
        timings["pdf_bilingual"] = time.perf_counter() - t
    files = [{"name": p.name, "kb": round(p.stat().st_size / 1024)} for p in sorted(folder.iterdir()) if p.is_file()]
    (folder / "index.html").write_text(render_index(facts.meta.date.isoformat(), files), encoding="utf-8")
    write_json(folder / "manifest.json", manifest(folder, version=version, data_as_of=facts.meta.data_as_of.isoformat()))
    return {"timings_s": timings, "files": [f["name"] for f in files], "headline": notes[langs[0]].headline}


def publish_note(facts: FactsRecord, notes: dict[str, Note], output_dir: Path, *, version: str, fontconfig: Path,
                 svg_writer: SvgWriter | None = None, dir_mode: int = DIR_MODE, file_mode: int = FILE_MODE) -> dict:
    """Render every edition into a staging folder and swap it in atomically (under the date's lock).

    Folders get ``dir_mode`` and files ``file_mode`` (settings ``publish_dir_mode`` /
    ``publish_file_mode``). Returns what :func:`write_outputs` returns plus ``folder``. The
    archive page is not touched: call :func:`write_archive` once after one or many notes.

    Raises
    ------
    PublishError
        The note cannot be written (disk full, quota, read-only, permissions) or the date is
        being published by another run; the previous note is unchanged.
    """
    date = facts.meta.date.isoformat()
    target = note_dir(output_dir, date)
    with date_lock(output_dir, date):
        existed = target.exists()
        with staging(output_dir, date) as tmp:
            try:
                info = write_outputs(facts, notes, tmp, version=version, fontconfig=fontconfig, svg_writer=svg_writer,
                                     navs=note_navs(output_dir, date, list(notes)))
            except OSError as exc:  # disk full, quota, read-only: one line naming the folder, not a traceback
                if (err := write_error(exc, target, existed=existed)) is None:
                    raise
                raise err from None
            target = promote(tmp, output_dir, date, dir_mode=dir_mode, file_mode=file_mode)
    return {**info, "folder": str(target)}


def is_archive_page(path: Path) -> bool:
    """True when ``path`` is an archive page nightdesk wrote (:data:`ARCHIVE_MARKER`, or an older page's title)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4_000_000)
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace")
    return ARCHIVE_MARKER in text or LEGACY_ARCHIVE_TITLE in text


def write_archive(output_dir: Path, *, file_mode: int = FILE_MODE) -> Path | None:
    """``output/index.html`` listing every published date (rewritten atomically; safe from concurrent workers).

    An ``index.html`` that nightdesk did not write (no :data:`ARCHIVE_MARKER`) is the user's: it is
    left as it is, with one warning, and None is returned. Temporary pages of killed runs are removed.

    Raises
    ------
    PublishError
        The page cannot be written (disk full, permissions); the notes themselves are published.
    """
    out = Path(output_dir)
    target = out / "index.html"
    for p in out.glob(".index.html.*.tmp"):
        if (m := ARCHIVE_TMP_RE.match(p.name)) and int(m[1]) != os.getpid() and not pid_alive(int(m[1])):
            p.unlink(missing_ok=True)
    if os.path.lexists(target) and not is_archive_page(target):
        LOG.warning("left %s alone: it is not an archive page nightdesk wrote (no nightdesk marker); the archive "
                    "page is not updated", target)
        return None
    tmp = target.with_name(f".index.html.{os.getpid()}.tmp")
    try:
        tmp.write_text(render_archive(archive_entries(out)) + "\n" + ARCHIVE_MARKER + "\n", encoding="utf-8")
        os.chmod(tmp, file_mode)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = WRITE_ERRNOS.get(exc.errno, exc.strerror or exc.__class__.__name__)
        raise PublishError(f"cannot update the archive page {target}: {reason}; the notes are published, "
                           "the archive page is unchanged") from None
    return target
