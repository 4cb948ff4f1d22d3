"""What every page of the web service shares: settings, database, tokens, templates, page helpers."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import sqlalchemy as sa
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from nightdesk.delivery.links import ReaderLinks
from nightdesk.delivery.tokens import Tokens
from nightdesk.settings import Settings
from nightdesk.web import security
from nightdesk.web.i18n import LANGS, choose_lang, words

LANG_COOKIE = "nd_lang"


class WebConfigError(ValueError):
    """The service cannot start with these settings; the message names the setting."""


def template_env() -> jinja2.Environment:
    """The pages' and feed's templates (``templates/web``), autoescaped, strict about missing values."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("nightdesk.templates", "web"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def stylesheet() -> bytes:
    """The site's CSS (``templates/web/site.css``)."""
    return (resources.files("nightdesk.templates") / "web" / "site.css").read_bytes()


@dataclass
class Site:
    """The service's state, made once by :func:`nightdesk.web.app.create_app` (no module globals)."""

    settings: Settings
    engine: sa.Engine
    archive: object  # nightdesk.web.archive.ArchiveReader
    env: jinja2.Environment = field(default_factory=template_env)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.settings.web.secret_key.get_secret_value())

    @cached_property
    def links(self) -> ReaderLinks:
        return ReaderLinks(self.settings.web.base_url, self.tokens, self.settings.delivery.unsubscribe_mailto)

    @cached_property
    def subscribe_limiter(self) -> security.RateLimiter:
        """Sign-up posts per client address per hour."""
        return security.RateLimiter(self.settings.web.subscribe_per_ip_per_hour, 3600.0)

    @cached_property
    def css(self) -> bytes:
        return stylesheet()

    @cached_property
    def css_href(self) -> str:
        return f"/static/site.css?v={hashlib.sha256(self.css).hexdigest()[:12]}"

    @property
    def output_dir(self) -> Path:
        return Path(self.settings.output_dir)

    @property
    def https(self) -> bool:
        return urlsplit(self.settings.web.base_url).scheme == "https"

    def lang_for(self, request: Request, *, preferred: str | None = None) -> str:
        """The reader's language on a page whose path does not say it."""
        return choose_lang(query=request.query_params.get("lang"), cookie=request.cookies.get(LANG_COOKIE),
                           accept=request.headers.get("accept-language"), preferred=preferred)

    def page(self, request: Request, template: str, lang: str, *, status: int = 200, cache: str = "no-store",
             switch: dict[str, str] | None = None, **ctx) -> HTMLResponse:
        """A page of the site in ``lang``; ``switch`` maps each language to this page's URL in it
        (default: the same path with ``?lang=``)."""
        path = request.url.path
        switch = switch or {x: f"{path}?lang={x}" for x in LANGS}
        html = self.env.get_template(template).render(
            lang=lang, w=words(lang), css_href=self.css_href, switch=[{"lang": x, "label": words(x)[f"lang_name_{x}"], "href": switch[x],
                                                                        "current": x == lang} for x in LANGS],
            home=f"/{lang}/", subscribe_href=f"/{lang}/subscribe", feed_href=f"/{lang}/feed.atom", **ctx)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": cache, "Content-Language": lang})

    def message(self, request: Request, lang: str, title_key: str, body: str, *, status: int = 200, link: tuple[str, str] | None = None,
                headers: dict[str, str] | None = None) -> HTMLResponse:
        """A one-message page (title, a paragraph, an optional link)."""
        resp = self.page(request, "message.html.j2", lang, status=status, title=words(lang)[title_key], body=body, link=link)
        resp.headers.update(headers or {})
        return resp

    def with_csrf(self, request: Request, response: Response, cookie: str, new: bool) -> Response:
        """Set the CSRF cookie on ``response`` when the browser has none yet."""
        if new:
            response.set_cookie(security.CSRF_COOKIE, cookie, max_age=4 * 3600, path="/", secure=self.https, httponly=True, samesite="strict")
        return response

    def csrf_ok(self, request: Request, form) -> bool:
        """The form's CSRF token matches the browser's cookie, and the browser says it is same-site."""
        cookie = request.cookies.get(security.CSRF_COOKIE, "")
        return security.same_origin(request, self.settings.web.base_url) and self.tokens.check_csrf(str(form.get(security.CSRF_FIELD, "")), cookie)

    def choose_redirect(self, request: Request) -> Response | None:
        """For a language switch (``?choose=1`` on a ``/<lang>/`` page): remember the language in a
        cookie and go to the clean URL."""
        if request.query_params.get("choose") != "1":
            return None
        lang = request.path_params.get("lang")
        resp = RedirectResponse(request.url.path, status_code=303, headers={"Cache-Control": "no-store"})
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", secure=self.https, samesite="lax")
        return resp


def masked(email: str) -> str:
    """An address shown on a page reached by a link: enough to recognise, not to harvest.

    >>> masked("ann.lee@mail.example.org")
    'a******@mail.example.org'
    """
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"


def safe(text: str) -> Markup:
    """Already-escaped HTML (only for markup built here from escaped parts)."""
    return Markup(text)
