"""The archive: index of sessions, a page per session, Atom feeds, and the published files."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from nightdesk.narrative.formatting import long_date, short_date
from nightdesk.rendering.html import NAV_END, NAV_START, nav_context, nav_css, render_nav
from nightdesk.rendering.publish import DATE_RE, edition_files, neighbours, note_file, note_summary, published_dates
from nightdesk.web.i18n import LANGS, words
from nightdesk.web.security import NOTE_CSP
from nightdesk.web.site import Site

PAGE_SIZE = 50
FEED_SIZE = 30
ARCHIVE_CACHE = "public, max-age=300"
FILE_PATTERN = re.compile(r"^(note\.(en|zh-Hant|zh-Hans)\.html|note\.(en|zh-Hant|zh-Hans|bilingual)\.pdf|facts\.json|manifest\.json"
                          r"|charts/[A-Za-z0-9_]+\.(en|zh-Hant|zh-Hans)\.svg)$")
"""The published files the site serves; anything else in a date's folder (an outbox, a lock) is not."""
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf", ".json": "application/json",
               ".svg": "image/svg+xml"}
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)
_HEAD_END = re.compile(r"</head>", re.IGNORECASE)


@dataclass
class ArchiveReader:
    """Summaries of published sessions, re-read only when a date's folder changes (a publish
    swaps the whole folder in, so its modification time changes)."""

    output_dir: Path
    _cache: dict[tuple[str, str], tuple[int, dict]] = field(default_factory=dict)

    def dates(self) -> list[str]:
        """Published dates, oldest first."""
        return published_dates(self.output_dir)

    def summary(self, date: str, lang: str) -> dict:
        folder = self.output_dir / date
        try:
            stamp = folder.stat().st_mtime_ns
        except OSError:
            stamp = -1
        hit = self._cache.get((date, lang))
        if hit and hit[0] == stamp:
            return hit[1]
        value = note_summary(folder, lang)
        if len(self._cache) > 20_000:
            self._cache.clear()
        self._cache[(date, lang)] = (stamp, value)
        return value

    def updated(self, date: str) -> dt.datetime:
        """When ``date`` was published (its manifest), else its folder's modification time; UTC."""
        folder = self.output_dir / date
        try:
            created = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["created_utc"]
            when = dt.datetime.fromisoformat(created)
            return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
        except (OSError, ValueError, KeyError, TypeError):
            return dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.timezone.utc)


def _site(request: Request) -> Site:
    return request.app.state.site


def _lang(request: Request) -> str | None:
    lang = request.path_params.get("lang")
    return lang if lang in LANGS else None


def not_found(request: Request) -> Response:
    site = _site(request)
    lang = _lang(request) or site.lang_for(request)
    w = words(lang)
    return site.message(request, lang, "not_found_title", w["not_found_body"], status=404, link=(f"/{lang}/", w["archive"]))


async def root(request: Request) -> Response:
    """``/``: to the archive in the reader's language."""
    lang = _site(request).lang_for(request)
    return RedirectResponse(f"/{lang}/", status_code=302, headers={"Vary": "Accept-Language, Cookie", "Cache-Control": "private, no-cache"})


async def index(request: Request) -> Response:
    """``/<lang>/``: every published session, newest first, in pages of 50."""
    site, lang = _site(request), _lang(request)
    if lang is None:
        return not_found(request)
    if (chosen := site.choose_redirect(request)) is not None:
        return chosen
    dates = list(reversed(site.archive.dates()))
    pages = max(1, -(-len(dates) // PAGE_SIZE))
    try:
        page = int(request.query_params.get("page", "1"))
    except ValueError:
        page = 0
    if not 1 <= page <= pages:
        return not_found(request)
    entries = []
    for d in dates[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
        s = site.archive.summary(d, lang)
        entries.append({**s, "date": d, "date_label": short_date(dt.date.fromisoformat(d), lang), "href": f"/{lang}/{d}/",
                        "note_href": f"/archive/{d}/{note_file(site.output_dir / d, lang)}"})
    w = words(lang)
    return site.page(request, "index.html.j2", lang, cache=ARCHIVE_CACHE, entries=entries,
                     switch={x: f"/{x}/?choose=1" for x in LANGS},
                     newer=f"/{lang}/?page={page - 1}" if page > 1 else None, older=f"/{lang}/?page={page + 1}" if page < pages else None,
                     page_label=w["page_of"].format(page=page, pages=pages) if pages > 1 else "")


async def day(request: Request) -> Response:
    """``/<lang>/<date>/``: one session: story, headline, takeaways, every edition, neighbours."""
    site, lang, date = _site(request), _lang(request), request.path_params["date"]
    if lang is None or not DATE_RE.match(date):
        return not_found(request)
    if (chosen := site.choose_redirect(request)) is not None:
        return chosen
    dates = site.archive.dates()
    if date not in dates:
        return not_found(request)
    w, folder = words(lang), site.output_dir / date
    langs, pdfs = edition_files(folder)
    prev, next_ = neighbours(dates, date)
    htmls = [{"lang": x, "label": w[f"lang_name_{x}"], "href": f"/archive/{date}/note.{x}.html"} for x in langs]
    files = [{"label": w["pdf_bilingual"] if x == "bilingual" else w[f"edition_{x}"], "href": f"/archive/{date}/note.{x}.pdf",
              "kb": round((folder / f"note.{x}.pdf").stat().st_size / 1024)} for x in pdfs]
    return site.page(request, "day.html.j2", lang, cache=ARCHIVE_CACHE, s=site.archive.summary(date, lang), date=date,
                     date_label=long_date(dt.date.fromisoformat(date), lang), htmls=htmls, pdfs=files,
                     switch={x: f"/{x}/{date}/?choose=1" for x in LANGS},
                     prev={"href": f"/{lang}/{prev}/", "date": prev} if prev else None,
                     next={"href": f"/{lang}/{next_}/", "date": next_} if next_ else None)


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


async def feed(request: Request) -> Response:
    """``/<lang>/feed.atom``: the latest 30 sessions as an Atom feed in ``lang``."""
    site, lang = _site(request), _lang(request)
    if lang is None:
        return not_found(request)
    base, w = site.settings.web.base_url, words(lang)
    entries = []
    for d in list(reversed(site.archive.dates()))[:FEED_SIZE]:
        s = site.archive.summary(d, lang)
        content = f"<p>{escape(s['headline'])}</p>" + (
            "<ul>" + "".join(f"<li>{escape(t)}</li>" for t in s["takeaways"]) + "</ul>" if s["takeaways"] else "")
        pdf = site.output_dir / d / f"note.{lang}.pdf"
        entries.append({**s, "date": d, "updated": _rfc3339(site.archive.updated(d)), "content": content,
                        "href": f"{base}/archive/{d}/{note_file(site.output_dir / d, lang)}", "day_href": f"{base}/{lang}/{d}/",
                        "pdf_href": f"{base}/archive/{d}/note.{lang}.pdf" if pdf.is_file() else None,
                        "pdf_bytes": pdf.stat().st_size if pdf.is_file() else 0})
    updated = entries[0]["updated"] if entries else _rfc3339(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    xml = site.env.get_template("feed.atom.j2").render(lang=lang, w=w, base=base, entries=entries, updated=updated)
    return Response(xml, media_type="application/atom+xml; charset=utf-8", headers={"Cache-Control": "public, max-age=900"})


async def archive_redirect(request: Request) -> Response:
    """The files' own index pages (``/archive/``, ``/archive/<date>/index.html``) lead to the pages
    in the reader's language (``?lang=`` from a note's navigation)."""
    site = _site(request)
    lang = site.lang_for(request)
    date = request.path_params.get("date")
    if date is not None and not DATE_RE.match(date):
        return not_found(request)
    return RedirectResponse(f"/{lang}/{date}/" if date else f"/{lang}/", status_code=302, headers={"Cache-Control": "no-cache"})


def current_nav(site: Site, date: str, lang: str) -> str:
    """The navigation bar of ``date``'s note in ``lang`` with today's neighbours and editions."""
    langs, pdfs = edition_files(site.output_dir / date)
    prev, next_ = neighbours(site.archive.dates(), date)
    nav = nav_context(date, lang, langs=langs, pdf_editions=pdfs,
                      prev=(prev, note_file(site.output_dir / prev, lang)) if prev else None,
                      next_=(next_, note_file(site.output_dir / next_, lang)) if next_ else None)
    return render_nav(nav)


def with_current_nav(html: str, nav: str, css: str = "") -> str:
    """The note's HTML with its navigation replaced; a note published before it had one gets it at
    the top of the body, and ``css`` (the bar's style) at the end of its head.

    >>> with_current_nav("<body class=x><!--nightdesk:nav-->old<!--/nightdesk:nav--><p>n</p>", "NEW")
    '<body class=x>NEW<p>n</p>'
    >>> with_current_nav("<html><head></head><body><p>n</p>", "NEW", "a{}")
    '<html><head><style>a{}</style></head><body>NEW<p>n</p>'
    """
    start, end = html.find(NAV_START), html.find(NAV_END)
    if 0 <= start < end:
        return html[:start] + nav + html[end + len(NAV_END):]
    m = _BODY.search(html)
    if m is None:
        return html
    html = html[:m.end()] + nav + html[m.end():]
    head = _HEAD_END.search(html)
    return html if head is None or not css else html[:head.start()] + f"<style>{css}</style>" + html[head.start():]


async def archive_file(request: Request) -> Response:
    """``/archive/<date>/<file>``: a published file with its type and caching headers; a note's
    HTML with its current navigation; 304 when the reader's copy is current."""
    site, date, name = _site(request), request.path_params["date"], request.path_params["name"]
    if name == "index.html":
        return await archive_redirect(request)
    if not DATE_RE.match(date) or not FILE_PATTERN.match(name) or date not in site.archive.dates():
        return not_found(request)
    root = site.output_dir.resolve()
    path = (root / date / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return not_found(request)
    media = MEDIA_TYPES[path.suffix]
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    if path.suffix in (".html", ".svg"):
        headers["Content-Security-Policy"] = NOTE_CSP
    if path.suffix == ".html":
        lang = name.split(".")[1]
        body = with_current_nav(path.read_text(encoding="utf-8"), current_nav(site, date, lang), nav_css()).encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers |= {"ETag": etag, "Last-Modified": formatdate(path.stat().st_mtime, usegmt=True)}
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media, headers=headers)
    resp = FileResponse(path, media_type=media, headers=headers, stat_result=path.stat())
    etag = resp.headers.get("etag")
    if etag and etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={**headers, "ETag": etag})
    return resp


async def favicon(request: Request) -> Response:
    """The site's icon (browsers ask for /favicon.ico on every site, notes included)."""
    from importlib import resources

    svg = (resources.files("nightdesk.templates") / "web" / "favicon.svg").read_bytes()
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


async def stylesheet(request: Request) -> Response:
    """The site's CSS; its URL carries a hash of its bytes, so it is cached for a year."""
    site = _site(request)
    return Response(site.css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "public, max-age=31536000, immutable"})
