"""The readers' pages: subscribe (double opt-in), confirm, unsubscribe (RFC 8058 one-click) and
language/edition preferences."""
from __future__ import annotations

import logging
from urllib.parse import parse_qs

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from nightdesk.delivery import consent
from nightdesk.delivery.store import LANGUAGES, Subscriber, SubscriberError
from nightdesk.delivery.tokens import TokenError
from nightdesk.delivery.transport import OutboxTransport, SmtpTransport
from nightdesk.web.archive import not_found
from nightdesk.web.i18n import LANGS, words
from nightdesk.web.security import client_key, csrf_cookie
from nightdesk.web.site import Site, masked

FORM_LIMIT_BYTES = 16 * 1024
log = logging.getLogger("nightdesk.web")


def _site(request: Request) -> Site:
    return request.app.state.site


async def bounded_body(request: Request, limit: int = FORM_LIMIT_BYTES) -> bytes | None:
    """The request body, or None when it is longer than ``limit`` (a form here is a few hundred bytes)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def read_form(request: Request) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` form (first value of each field), or None when too long."""
    body = await bounded_body(request)
    if body is None:
        return None
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20)
    return {k: v[0] for k, v in fields.items()}


def _editions(lang: str) -> list[dict]:
    w = words(lang)
    return [{"value": x, "label": w[f"edition_{x}"]} for x in LANGUAGES]


def _too_long(site: Site, request: Request, lang: str) -> Response:
    return site.message(request, lang, "forbidden_title", words(lang)["forbidden_body"], status=413)


def _forbidden(site: Site, request: Request, lang: str) -> Response:
    return site.message(request, lang, "forbidden_title", words(lang)["forbidden_body"], status=403,
                        link=(request.url.path, words(lang)["subscribe"]))


def _invalid_link(site: Site, request: Request, lang: str, status: int = 400) -> Response:
    w = words(lang)
    return site.message(request, lang, "link_invalid_title", w["link_invalid_body"], status=status, link=(f"/{lang}/subscribe", w["subscribe"]))


def subscribe_form(site: Site, request: Request, lang: str, *, status: int = 200, error: str = "", email: str = "", name: str = "",
                   edition: str | None = None) -> Response:
    cookie, new = csrf_cookie(request)
    resp = site.page(request, "subscribe.html.j2", lang, status=status, switch={x: f"/{x}/subscribe" for x in LANGS},
                     action=f"/{lang}/subscribe", csrf=site.tokens.csrf(cookie), error=error, email=email, name=name,
                     edition=edition or lang, editions=_editions(lang))
    return site.with_csrf(request, resp, cookie, new)


async def subscribe(request: Request) -> Response:
    """``GET /<lang>/subscribe``: the form; ``POST``: record the sign-up and mail the confirmation link.

    Every accepted post gets the same answer, whether the address is new, subscribed,
    unsubscribed, or already sent its confirmation mails for the day (no account enumeration).
    """
    site, lang = _site(request), request.path_params["lang"]
    if lang not in LANGS:
        return not_found(request)
    if request.method == "GET":
        return subscribe_form(site, request, lang)
    w = words(lang)
    if not site.subscribe_limiter.allow(client_key(request.scope)):
        return site.message(request, lang, "rate_limited_title", w["rate_limited_body"], status=429,
                            headers={"Retry-After": str(site.subscribe_limiter.retry_after_s(client_key(request.scope)))})
    form = await read_form(request)
    if form is None:
        return _too_long(site, request, lang)
    if not site.csrf_ok(request, form):
        return _forbidden(site, request, lang)
    email, name, edition = form.get("email", "").strip(), form.get("name", "").strip(), form.get("edition", lang)
    if edition not in LANGUAGES:
        edition = lang
    web = site.settings.web
    try:
        nonce = await run_in_threadpool(consent.request_signup, site.engine, email, name=name, edition=edition, language=lang,
                                        source=f"web:/{lang}/subscribe", per_day_limit=web.confirm_mails_per_address_per_day,
                                        max_age_s=web.confirm_max_age_s)
    except SubscriberError as exc:
        error = w["invalid_name"] if str(exc).startswith("name") else w["invalid_email"]
        return subscribe_form(site, request, lang, status=400, error=error, email=email[:320], name=name[:200], edition=edition)
    task = BackgroundTask(send_confirmation, site, nonce) if nonce else None
    return RedirectResponse(f"/{lang}/subscribe/sent", status_code=303, background=task, headers={"Cache-Control": "no-store"})


async def subscribe_sent(request: Request) -> Response:
    """``/<lang>/subscribe/sent``: the one answer to every accepted sign-up."""
    site, lang = _site(request), request.path_params["lang"]
    if lang not in LANGS:
        return not_found(request)
    w = words(lang)
    hours = site.settings.web.confirm_max_age_s // 3600
    return site.message(request, lang, "check_inbox_title", w["check_inbox_body"].format(hours=hours), link=(f"/{lang}/", w["archive"]))


def confirmation_transport(site: Site):
    """The transport of confirmation mails: the delivery SMTP server, or the web outbox folder."""
    d = site.settings.delivery
    if d.transport == "smtp":
        s = d.smtp
        return SmtpTransport(s.host, s.port, security=s.security, username=s.username,
                             password=s.password.get_secret_value() if s.password else None, timeout_s=s.timeout_s)
    return OutboxTransport(site.settings.web.outbox_dir)


def send_confirmation(site: Site, nonce: str) -> None:
    """Mail the double opt-in link of a pending sign-up (after the response; failures are logged
    without the address)."""
    p = consent.pending(site.engine, nonce)
    if p is None:
        return
    msg = consent.confirmation_message(p, confirm_url=site.links.confirm_url(nonce, p.language), from_addr=site.settings.delivery.from_addr,
                                       hours=site.settings.web.confirm_max_age_s // 3600)
    transport = confirmation_transport(site)
    try:
        transport.send(msg)
    except Exception as exc:  # noqa: BLE001 - a failed mail must not fail the page; the reader can ask again
        log.warning("confirmation mail not sent: %s", exc)
    finally:
        transport.close()


async def confirm(request: Request) -> Response:
    """``GET /confirm/<token>``: a page with one button (a link scanner's GET confirms nothing);
    ``POST``: activate the subscription and record the consent."""
    site, token = _site(request), request.path_params["token"]
    web = site.settings.web
    try:
        nonce = site.tokens.read_confirmation(token, max_age_s=web.confirm_max_age_s)
    except TokenError:
        return _invalid_link(site, request, site.lang_for(request))
    p = await run_in_threadpool(consent.pending, site.engine, nonce)
    lang = site.lang_for(request, preferred=p.language if p else None)
    if p is None:
        return _invalid_link(site, request, lang)
    w = words(lang)
    if request.method == "GET":
        cookie, new = csrf_cookie(request)
        resp = site.page(request, "confirm.html.j2", lang, action=request.url.path, csrf=site.tokens.csrf(cookie),
                         body=w["confirm_body"].format(edition=w[f"edition_{p.edition}"]))
        return site.with_csrf(request, resp, cookie, new)
    form = await read_form(request)
    if form is None:
        return _too_long(site, request, lang)
    if not site.csrf_ok(request, form):
        return _forbidden(site, request, lang)
    sub = await run_in_threadpool(consent.confirm_signup, site.engine, nonce, max_age_s=web.confirm_max_age_s)
    if sub is None:
        return _invalid_link(site, request, lang)
    return site.message(request, lang, "confirmed_title", w["confirmed_body"], link=(f"/{lang}/", w["archive"]))


async def _subscriber(site: Site, token: str) -> Subscriber | None:
    """The subscriber of a signed token (None when forged or unknown); the database is read off the event loop."""
    try:
        db_token = site.tokens.read_unsubscribe(token)
    except TokenError:
        return None
    return await run_in_threadpool(consent.subscriber_by_token, site.engine, db_token)


def _reader_lang(site: Site, request: Request, sub: Subscriber | None) -> str:
    return site.lang_for(request, preferred=sub.language if sub and sub.language in LANGS else None)


async def _token_reader(request: Request) -> tuple[Site, str, Subscriber | None, str]:
    """A signed-link page's site, token, subscriber (None: invalid or unknown link) and language."""
    site, token = _site(request), request.path_params["token"]
    sub = await _subscriber(site, token)
    return site, token, sub, _reader_lang(site, request, sub)


async def unsubscribe(request: Request) -> Response:
    """``GET /u/<token>``: one button, and a link to change the language instead.
    ``POST``: unsubscribe at once (RFC 8058 one-click: no cookie, no CSRF token, no redirect;
    the signed token in the URL is the authority)."""
    site, token, sub, lang = await _token_reader(request)
    w = words(lang)
    if sub is None:
        return _invalid_link(site, request, lang, status=404)
    if request.method == "POST":
        body = await bounded_body(request)
        source = "web:page" if body and b"from=page" in body else "web:one-click"
        await run_in_threadpool(consent.unsubscribe_by_token, site.engine, sub.unsubscribe_token, source=source)
        return site.message(request, lang, "unsubscribed_title", w["unsubscribed_body"], link=(f"/{lang}/subscribe", w["subscribe"]))
    if sub.status == "unsubscribed":
        return site.message(request, lang, "unsubscribed_title", w["unsubscribed_body"], link=(f"/{lang}/subscribe", w["subscribe"]))
    return site.page(request, "unsubscribe.html.j2", lang, action=request.url.path,
                     preferences_href=f"/p/{token}?lang={lang}")


async def preferences(request: Request) -> Response:
    """``GET /p/<token>``: the edition (language) choice; ``POST``: save it (CSRF-checked)."""
    site, token, sub, lang = await _token_reader(request)
    w = words(lang)
    if sub is None:
        return _invalid_link(site, request, lang, status=404)
    if request.method == "POST":
        form = await read_form(request)
        if form is None:
            return _too_long(site, request, lang)
        if not site.csrf_ok(request, form):
            return _forbidden(site, request, lang)
        edition = form.get("edition", "")
        if sub.status != "active" or edition not in LANGUAGES:
            return site.message(request, lang, "prefs_title", w["prefs_inactive"], status=400)
        await run_in_threadpool(consent.set_edition_by_token, site.engine, sub.unsubscribe_token, edition)
        return site.message(request, lang, "saved_title", w["saved_body"].format(edition=w[f"edition_{edition}"]),
                            link=(f"/{lang}/", w["archive"]))
    cookie, new = csrf_cookie(request)
    resp = site.page(request, "preferences.html.j2", lang, action=request.url.path, csrf=site.tokens.csrf(cookie), name=sub.name,
                     masked=masked(sub.email), active=sub.status == "active", edition=sub.language, editions=_editions(lang),
                     unsubscribe_href=f"/u/{token}?lang={lang}")
    return site.with_csrf(request, resp, cookie, new)
