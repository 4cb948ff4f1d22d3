"""The readers' web service through its ASGI interface: archive pages, feeds, files, security
headers, language choice, and the subscription pages (double opt-in, one-click unsubscribe,
preferences) against a real SQLite file and the outbox transport."""
from __future__ import annotations

import email
import email.policy
import json
import re

import feedparser
import html5lib
import pytest
import sqlalchemy as sa

from archive_fixture import small_date

LANGS = ("en", "zh-Hant", "zh-Hans")


def parse_html(text: str):
    """Strict HTML5 parse: any parse error fails the test."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def hrefs(text: str) -> list[str]:
    return [a.get("href") for a in parse_html(text).iter("a")]


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def outbox_mails(settings) -> list[email.message.EmailMessage]:
    folder = settings.web.outbox_dir
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(folder.glob("*.eml"))] \
        if folder.exists() else []


def confirm_link(msg) -> str:
    return re.search(r"http://127\.0\.0\.1:8080(/confirm/\S+)", msg.get_content()).group(1)


# --- archive -------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_index_lists_sessions_newest_first_with_story_and_headline(site, lang):
    client, _ = site()
    r = client.get(f"/{lang}/")
    assert r.status_code == 200 and r.headers["content-language"] == lang
    parse_html(r.text)
    dates = re.findall(r'<time datetime="(\d{4}-\d{2}-\d{2})"', r.text)
    assert dates == ["2026-02-05", "2026-02-04", "2026-02-03", "2026-02-02"]  # the staging folder is not a session
    crash = {"en": ("Momentum crash", "Momentum crashed −7.5%: the worst day in five years"),
             "zh-Hant": ("動能重挫", "動能因子重挫−7.5%，五年來最差"), "zh-Hans": ("动量急跌", "动量因子急跌−7.5%，五年来最差")}[lang]
    assert crash[0] in r.text and crash[1] in r.text
    fallback = {"en": "L/S momentum +2.3% (+1.7σ) on the day", "zh-Hant": "多空動能組合當日 +2.3%（+1.7σ）",
                "zh-Hans": "多空动量组合当日 +2.3%（+1.7σ）"}[lang]
    assert fallback in r.text  # 2026-02-05 has no note.<lang>.json: a plain headline from facts.json
    assert f"/archive/2026-02-04/note.{lang}.html" in hrefs(r.text) and f"/{lang}/2026-02-04/" in hrefs(r.text)


def test_day_page_links_every_edition_and_the_neighbouring_sessions(site):
    client, _ = site()
    r = client.get("/zh-Hant/2026-02-04/")
    assert r.status_code == 200
    links = hrefs(r.text)
    for lang in LANGS:
        assert f"/archive/2026-02-04/note.{lang}.html" in links
    for edition in (*LANGS, "bilingual"):
        assert f"/archive/2026-02-04/note.{edition}.pdf" in links
    assert "/zh-Hant/2026-02-03/" in links and "/zh-Hant/2026-02-05/" in links  # previous / next session
    assert "動能因子重挫" in r.text and "動能重挫 · 1" in r.text  # headline and takeaways in the reader's language
    for href in links:  # nothing on the page leads nowhere
        assert client.get(href).status_code == 200, href
    first = client.get("/en/2026-02-02/").text
    assert "/en/2026-02-01/" not in first and 'rel="prev"' not in first and 'rel="next"' in first
    assert client.get("/en/2026-02-07/").status_code == 404
    assert client.get("/en/2026-13-45/").status_code == 404


@pytest.mark.parametrize("lang", LANGS)
def test_feed_parses_with_a_feed_library(site, lang):
    client, settings = site()
    r = client.get(f"/{lang}/feed.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(r.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.language == lang if "language" in feed.feed else True
    assert [e.id for e in feed.entries] == [f"{settings.web.base_url}/{lang}/{d}/" for d in ("2026-02-05", "2026-02-04", "2026-02-03", "2026-02-02")]
    crash = feed.entries[1]
    assert crash.link == f"{settings.web.base_url}/archive/2026-02-04/note.{lang}.html"
    assert {"en": "Momentum crash", "zh-Hant": "動能重挫", "zh-Hans": "动量急跌"}[lang] in crash.title
    assert crash.updated == "2026-02-04T23:30:00Z"
    assert any(link.get("type") == "application/pdf" for link in crash.links)
    assert '<link rel="alternate" type="application/atom+xml" href="/%s/feed.atom"' % lang in client.get(f"/{lang}/").text


def test_hostile_facts_and_notes_are_escaped_everywhere(site, archive_root):
    """Markup in a note's words or in facts values is shown as text, in pages and in the feed."""
    evil = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>'
    small_date(archive_root, "2026-02-06", "quiet", headline=evil, takeaways=[f"</ul>{evil}", "&amp; plain"])
    for lang in LANGS:  # a hostile story key and label too
        path = archive_root / "2026-02-06" / f"note.{lang}.json"
        note = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps({**note, "story": evil, "story_label": evil}), encoding="utf-8")
    hostile_facts = archive_root / "2026-02-09"
    small_date(archive_root, "2026-02-09", None)
    (hostile_facts / "facts.json").write_text(json.dumps({"meta": {"date": evil}, "momentum": {"ls_ret_pct": evil, "ls_z": evil}}))
    client, _ = site()
    for path in ("/en/", "/en/2026-02-06/", "/en/2026-02-09/", "/en/feed.atom"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>" not in r.text and "<img src=x" not in r.text, path
        if path.endswith(".atom"):
            feed = feedparser.parse(r.content)
            assert feed.bozo == 0 and evil in feed.entries[1].title  # the text survives, as text
        else:
            parse_html(r.text)
            assert ("&lt;script&gt;alert(1)&lt;/script&gt;" in r.text) == (path != "/en/2026-02-09/"), path
    assert "(summary not available)" in client.get("/en/2026-02-09/").text  # facts that are not numbers: no headline made up


def test_published_files_types_caching_and_what_is_not_served(site):
    client, _ = site()
    pdf = client.get("/archive/2026-02-04/note.zh-Hant.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "public, max-age=300" and pdf.headers["etag"]
    again = client.get("/archive/2026-02-04/note.zh-Hant.pdf", headers={"If-None-Match": pdf.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    note = client.get("/archive/2026-02-04/note.en.html")
    assert note.headers["content-type"] == "text/html; charset=utf-8" and "style-src 'unsafe-inline'" in note.headers["content-security-policy"]
    assert client.get("/archive/2026-02-04/note.en.html", headers={"If-None-Match": note.headers["etag"]}).status_code == 304
    assert client.get("/archive/2026-02-04/facts.json").headers["content-type"] == "application/json"
    css = client.get(re.search(r'href="(/static/site\.css\?v=\w+)"', client.get("/en/").text).group(1))
    assert css.headers["content-type"].startswith("text/css") and "immutable" in css.headers["cache-control"]
    for path in ("/archive/2026-02-04/outbox/x.eml", "/archive/2026-02-04/../.2026-02-04.lock", "/archive/2026-02-04/%2e%2e/%2e%2e/subs.db",
                 "/archive/.2026-02-06.tmp-abc/facts.json", "/archive/2026-02-08/note.en.html", "/archive/2026-02-04/note.fr.html"):
        assert client.get(path).status_code == 404, path
    day = client.get("/archive/2026-02-04/index.html?lang=zh-Hans", follow_redirects=False)
    assert day.status_code == 302 and day.headers["location"] == "/zh-Hans/2026-02-04/"


def test_security_headers_on_every_kind_of_response(site):
    client, _ = site()
    for path in ("/en/", "/en/subscribe", "/archive/2026-02-04/note.en.html", "/archive/2026-02-04/note.en.pdf", "/nope", "/en/feed.atom"):
        h = client.get(path).headers
        assert "frame-ancestors 'none'" in h["content-security-policy"] and "script-src" not in h["content-security-policy"], path
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", path
        assert h["referrer-policy"] == "no-referrer", path
    assert "default-src 'none'" in client.get("/en/").headers["content-security-policy"]
    assert "strict-transport-security" not in client.get("/en/").headers  # plain http here; with an https base_url it is sent


def test_language_from_choice_or_accept_language(site):
    client, _ = site()
    for header, lang in (("zh-TW,zh;q=0.9,en;q=0.8", "zh-Hant"), ("zh-CN,zh;q=0.9", "zh-Hans"), ("fr-FR,fr;q=0.9", "en"),
                         ("fr;q=0.9, zh-Hans-SG;q=0.5", "zh-Hans")):
        r = client.get("/", headers={"Accept-Language": header}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (302, f"/{lang}/"), header
        assert "Accept-Language" in r.headers["vary"]
    chosen = client.get("/zh-Hans/?choose=1", follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/zh-Hans/"
    assert client.get("/", headers={"Accept-Language": "en"}, follow_redirects=False).headers["location"] == "/zh-Hans/"  # the choice wins
    assert client.get("/xx/").status_code == 404


def test_a_notes_navigation_is_current_when_served(site, archive_root):
    """The note's bar is swapped for today's neighbours; a note published without a bar gets one."""
    client, _ = site()
    html = client.get("/archive/2026-02-04/note.zh-Hant.html").text
    parse_html(html)
    assert "../2026-02-03/note.zh-Hant.html" in html and "../2026-02-05/note.zh-Hant.html" in html and "../index.html?lang=zh-Hant" in html
    for href in ("note.en.html", "note.zh-Hans.html", "note.zh-Hant.pdf", "note.bilingual.pdf"):
        assert f'href="{href}"' in html
    old = archive_root / "2026-02-03" / "note.en.html"
    old.write_text('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>t</title></head><body><p>old</p></body></html>')
    html = client.get("/archive/2026-02-03/note.en.html").text
    parse_html(html)
    assert html.index('class="nd-nav"') < html.index("<p>old</p>") and ".nd-nav {" in html
    resolved = [h for h in hrefs(html) if not h.startswith("#")]
    for href in resolved:  # relative to /archive/2026-02-03/
        path = "/archive/" + href[3:] if href.startswith("../") else "/archive/2026-02-03/" + href
        assert client.get(path).status_code == 200, href


# --- subscribe, confirm ------------------------------------------------------------------------------

def subscribe(client, lang="en", **fields):
    form = client.get(f"/{lang}/subscribe")
    data = {"csrf": csrf_of(form.text), "edition": lang, "name": "", **fields}
    return client.post(f"/{lang}/subscribe", data=data, follow_redirects=False)


def test_double_opt_in_records_consent(site):
    from nightdesk.delivery import consent
    from nightdesk.delivery.store import connect, list_subscribers

    client, settings = site()
    r = subscribe(client, "zh-Hant", email="Reader@Desk.News", name="陳大文", edition="bilingual")
    assert r.status_code == 303 and r.headers["location"] == "/zh-Hant/subscribe/sent"
    assert "請查看您的信箱" in client.get(r.headers["location"]).text
    engine = connect(settings.delivery.db_url)
    assert list_subscribers(engine) == []  # nothing is active before the confirmation
    [mail] = outbox_mails(settings)
    assert mail["To"].addresses[0].addr_spec == "Reader@desk.news" and "Nightdesk" in mail["Subject"]
    assert "陳大文" in mail.get_content() and "48" in mail.get_content()
    link = confirm_link(mail)
    assert "desk.news" not in link.lower() and "reader" not in link.lower()  # the link carries a token, no address
    page = client.get(link)
    assert page.status_code == 200 and "雙語版" in page.text and list_subscribers(engine) == []  # a GET confirms nothing
    done = client.post(link, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "訂閱成功" in done.text
    [sub] = list_subscribers(engine)
    assert (sub.email, sub.language, sub.status, sub.name) == ("Reader@desk.news", "bilingual", "active", "陳大文")
    [record] = consent.consents(engine, "reader@desk.news")
    assert (record.source, record.method, record.edition, record.language) == ("web:/zh-Hant/subscribe", "double-opt-in", "bilingual", "zh-Hant")
    assert record.requested_utc <= record.confirmed_utc
    again = client.post(link, data={"csrf": csrf_of(page.text)})
    assert again.status_code == 400 and "此連結已失效" in again.text  # single use


def test_same_answer_for_new_known_unsubscribed_and_over_limit_addresses(site):
    """No account enumeration: status, redirect and page are identical whatever the address is."""
    from nightdesk.delivery.store import add_subscriber, connect, set_status

    client, settings = site(confirm_mails_per_address_per_day=1)
    engine = connect(settings.delivery.db_url)
    add_subscriber(engine, "known@desk.news")
    add_subscriber(engine, "gone@desk.news")
    set_status(engine, "gone@desk.news", "unsubscribed")
    subscribe(client, email="limit@desk.news")  # uses up its one mail of the day
    answers = []
    for address in ("new@desk.news", "known@desk.news", "gone@desk.news", "limit@desk.news"):
        r = subscribe(client, email=address)
        answers.append((r.status_code, r.headers["location"], client.get(r.headers["location"]).text))
    assert len(set(answers)) == 1
    sent_to = sorted(m["To"].addresses[0].addr_spec for m in outbox_mails(settings))
    assert sent_to == ["gone@desk.news", "known@desk.news", "limit@desk.news", "new@desk.news"]  # limit@ got one, not two


def test_subscribe_needs_the_csrf_token_and_a_valid_address(site):
    client, settings = site()
    form = client.get("/en/subscribe")
    assert client.post("/en/subscribe", data={"email": "a@desk.news", "edition": "en"}).status_code == 403
    assert client.post("/en/subscribe", data={"email": "a@desk.news", "csrf": "forged.token.x"}).status_code == 403
    client.cookies.clear()  # a token without its cookie (another browser) is refused
    assert client.post("/en/subscribe", data={"email": "a@desk.news", "csrf": csrf_of(form.text)}).status_code == 403
    form = client.get("/en/subscribe")
    cross = client.post("/en/subscribe", data={"email": "a@desk.news", "csrf": csrf_of(form.text)},
                        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and outbox_mails(settings) == []
    bad = subscribe(client, email='"><script>alert(1)</script>')
    assert bad.status_code == 400 and "does not look like an email address" in bad.text
    assert "<script>alert(1)" not in bad.text and "&lt;script&gt;" in bad.text
    assert subscribe(client, email="x@desk.news", name="A\x07B").status_code == 400
    assert client.post("/en/subscribe", content=b"email=" + b"a" * 20000,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code in (403, 413)


def test_rate_limits_answer_429(site):
    client, settings = site(subscribe_per_ip_per_hour=2)
    assert [subscribe(client, email=f"r{i}@desk.news").status_code for i in range(3)] == [303, 303, 429]
    assert len(outbox_mails(settings)) == 2
    client, _ = site(requests_per_ip_per_minute=5)
    codes = [client.get("/en/").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert int(client.get("/en/").headers["retry-after"]) >= 1


def test_confirmation_links_expire_and_forgeries_fail(site):
    import datetime as dt

    from nightdesk.delivery import consent
    from nightdesk.delivery.store import connect
    from nightdesk.delivery.tokens import TokenError, Tokens

    client, settings = site()
    subscribe(client, email="late@desk.news")
    link = confirm_link(outbox_mails(settings)[0]).split("?")[0]
    token = link.rsplit("/", 1)[1]
    assert client.get(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")).status_code == 400  # tampered signature
    with pytest.raises(TokenError):
        Tokens("another-secret-key-0123456789-abcdefgh").read_confirmation(token, max_age_s=3600)
    with pytest.raises(TokenError):
        Tokens(settings.web.secret_key.get_secret_value()).read_confirmation(token, max_age_s=-1)  # older than allowed
    engine = connect(settings.delivery.db_url)
    nonce = Tokens(settings.web.secret_key.get_secret_value()).read_confirmation(token, max_age_s=3600)
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=settings.web.confirm_max_age_s + 1)
    assert consent.confirm_signup(engine, nonce, max_age_s=settings.web.confirm_max_age_s, now=later) is None


# --- unsubscribe, preferences ----------------------------------------------------------------------

def _subscriber(settings, email="ann@desk.news", name="Ann", language="en"):
    from nightdesk.delivery.store import add_subscriber, connect
    from nightdesk.delivery.tokens import Tokens

    engine = connect(settings.delivery.db_url)
    sub = add_subscriber(engine, email, name=name, language=language)
    return engine, sub, Tokens(settings.web.secret_key.get_secret_value()).unsubscribe(sub.unsubscribe_token)


def test_one_click_post_unsubscribes_at_once_and_get_only_asks(site):
    from nightdesk.delivery import suppression
    from nightdesk.delivery.store import list_subscribers

    client, settings = site()
    engine, sub, token = _subscriber(settings, language="zh-Hans")
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "取消订阅" in page.text and f"/p/{token}?lang=zh-Hans" in page.text
    assert page.text.count("<button") == 1 and page.headers["cache-control"] == "no-store"
    assert list_subscribers(engine, status="active") == [sub]  # showing the page changes nothing
    forged = token[:-2] + ("xx" if not token.endswith("xx") else "yy")
    assert client.post(f"/u/{forged}", content=b"List-Unsubscribe=One-Click").status_code == 404
    assert list_subscribers(engine, status="active") == [sub]
    client.cookies.clear()
    r = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "已取消订阅" in r.text  # no cookie, no CSRF token, no redirect (RFC 8058)
    assert list_subscribers(engine, status="active") == []
    with engine.connect() as conn:
        entry = suppression.lookup(conn, "ANN@desk.news")
    assert (entry.reason, entry.source) == ("unsubscribed", "web:one-click")
    assert client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click").status_code == 200  # idempotent


def test_preferences_escape_a_hostile_name_and_change_the_edition(site):
    client, settings = site()
    evil = '<img src=x onerror=alert(1)>"\'&'
    engine, sub, token = _subscriber(settings, name=evil)
    page = client.get(f"/p/{token}")
    assert page.status_code == 200 and "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    parse_html(page.text)
    assert "a**@desk.news" in page.text and "ann@desk.news" not in page.text
    assert client.post(f"/p/{token}", data={"edition": "zh-Hant"}).status_code == 403  # CSRF
    r = client.post(f"/p/{token}", data={"edition": "zh-Hant", "csrf": csrf_of(page.text)})
    assert r.status_code == 200 and "Traditional Chinese" in r.text
    from nightdesk.delivery.store import list_subscribers

    assert list_subscribers(engine)[0].language == "zh-Hant"
    assert client.get(f"/p/{token}?lang=zh-Hant").headers["content-language"] == "zh-Hant"


# --- configuration -----------------------------------------------------------------------------------

def test_the_service_refuses_to_start_without_what_it_needs(tmp_path, archive_root, monkeypatch):
    from pydantic import ValidationError

    from nightdesk.settings import Settings
    from nightdesk.web.app import create_app
    from nightdesk.web.site import WebConfigError

    from conftest import make_settings

    with pytest.raises(WebConfigError, match="web.secret_key is not set"):
        create_app(Settings(output_dir=archive_root, delivery={"db_url": f"sqlite:///{tmp_path}/s.db"}))
    with pytest.raises(WebConfigError, match="output_dir"):
        create_app(make_settings(tmp_path, tmp_path / "missing"))
    smtp = make_settings(tmp_path, archive_root)
    smtp = smtp.model_copy(update={"delivery": smtp.delivery.model_copy(update={"transport": "smtp"})})
    with pytest.raises(WebConfigError, match="from_addr .*placeholder"):
        create_app(smtp)
    toml = tmp_path / "nightdesk.toml"
    toml.write_text('[web]\nsecret_key = "0123456789012345678901234567890123"\n')
    monkeypatch.setenv("NIGHTDESK_CONFIG", str(toml))
    with pytest.raises(ValidationError, match="never in"):
        Settings()
    (tmp_path / "none.toml").write_text("")  # an empty config: a missing $NIGHTDESK_CONFIG file is an error
    monkeypatch.setenv("NIGHTDESK_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(web={"secret_key": "short"})


def test_cli_web_names_what_is_missing(tmp_path, archive_root, monkeypatch):
    from typer.testing import CliRunner

    from nightdesk.cli.app import app

    (tmp_path / "none.toml").write_text("")  # an empty config: a missing $NIGHTDESK_CONFIG file is an error
    monkeypatch.setenv("NIGHTDESK_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("NIGHTDESK_OUTPUT_DIR", str(archive_root))
    monkeypatch.delenv("NIGHTDESK_WEB__SECRET_KEY", raising=False)
    r = CliRunner().invoke(app, ["web", "--port", "0"])
    assert r.exit_code == 2 and "Invalid value" in r.output  # typer's own check of the port
    r = CliRunner().invoke(app, ["web"])
    assert r.exit_code == 2 and r.output.startswith("error: web.secret_key is not set") and r.output.count("\n") == 1


def test_web_settings_do_not_change_what_a_note_was_built_from():
    """The backfill's key skips dates built from the same inputs: the web service's settings
    (port, site URL, secret) do not shape a note, so changing them must not rebuild the archive."""
    from nightdesk.facts.inputs import settings_fingerprint
    from nightdesk.settings import Settings

    from conftest import SECRET

    assert settings_fingerprint(Settings()) == settings_fingerprint(
        Settings(web={"port": 9999, "base_url": "https://notes.desk.news", "secret_key": SECRET}))
