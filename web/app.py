"""The ASGI application (Starlette) and ``nightdesk web``'s server (uvicorn)."""
from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from nightdesk.delivery import consent
from nightdesk.delivery.links import sending_problems
from nightdesk.delivery.store import connect
from nightdesk.settings import Settings
from nightdesk.web import archive, readers
from nightdesk.web.i18n import words
from nightdesk.web.security import GuardMiddleware, RateLimiter
from nightdesk.web.site import Site, WebConfigError


def config_problems(settings: Settings) -> list[str]:
    """Why the service cannot start with ``settings`` (each names the setting), or nothing."""
    problems = []
    if settings.web.secret_key is None:
        problems.append("web.secret_key is not set: export NIGHTDESK_WEB__SECRET_KEY "
                        "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if not Path(settings.output_dir).is_dir():
        problems.append(f"output_dir {str(settings.output_dir)!r} is not a folder: publish a note first (nightdesk run)")
    d = settings.delivery
    if d.transport == "smtp":  # confirmation mails go out for real
        problems += sending_problems(from_addr=d.from_addr, unsubscribe_mailto=d.unsubscribe_mailto, base_url=settings.web.base_url,
                                     base_url_set="base_url" in settings.web.model_fields_set)
    return problems


def routes() -> list[Route]:
    """Every URL of the service (the paths emails link to live in ``nightdesk.delivery.links``)."""
    return [
        Route("/", archive.root),
        Route("/healthz", lambda request: PlainTextResponse("ok", headers={"Cache-Control": "no-store"})),
        Route("/static/site.css", archive.stylesheet),
        Route("/favicon.ico", archive.favicon),
        Route("/archive/", archive.archive_redirect),
        Route("/archive/index.html", archive.archive_redirect),
        Route("/archive/{date}/", archive.archive_redirect),
        Route("/archive/{date}/{name:path}", archive.archive_file),
        Route("/u/{token}", readers.unsubscribe, methods=["GET", "POST"]),
        Route("/p/{token}", readers.preferences, methods=["GET", "POST"]),
        Route("/confirm/{token}", readers.confirm, methods=["GET", "POST"]),
        Route("/{lang}/", archive.index),
        Route("/{lang}/feed.atom", archive.feed),
        Route("/{lang}/subscribe", readers.subscribe, methods=["GET", "POST"]),
        Route("/{lang}/subscribe/sent", readers.subscribe_sent),
        Route("/{lang}/{date}/", archive.day),
    ]


def create_app(settings: Settings) -> Starlette:
    """The web service for ``settings``; :class:`WebConfigError` names what is missing or wrong."""
    problems = config_problems(settings)
    if problems:
        raise WebConfigError("; ".join(problems))
    engine = connect(settings.delivery.db_url)
    consent.create_tables(engine)
    site = Site(settings, engine, archive.ArchiveReader(Path(settings.output_dir)))

    def too_many(scope, retry_after_s: int) -> Response:
        request = Request(scope)
        lang = site.lang_for(request)
        return site.message(request, lang, "rate_limited_title", words(lang)["rate_limited_body"], status=429,
                            headers={"Retry-After": str(retry_after_s)})

    async def on_404(request: Request, exc: Exception) -> Response:
        return archive.not_found(request)

    app = Starlette(routes=routes(), exception_handlers={404: on_404}, middleware=[
        Middleware(GuardMiddleware, limiter=RateLimiter(settings.web.requests_per_ip_per_minute, 60.0), https=site.https,
                   too_many=too_many)])
    app.state.site = site
    return app


def serve(settings: Settings) -> None:  # pragma: no cover - exercised through the CLI by hand and in the README
    """Run the service with uvicorn on ``web.host:web.port`` until interrupted.

    Proxy headers (client address, scheme) are trusted only from ``web.forwarded_allow_ips``;
    uvicorn's access log is off (its lines would carry tokens): the service logs requests with
    tokens redacted.
    """
    import uvicorn

    app = create_app(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(app, host=settings.web.host, port=settings.web.port, proxy_headers=True,
                forwarded_allow_ips=settings.web.forwarded_allow_ips, server_header=False, access_log=False, log_level="info")
