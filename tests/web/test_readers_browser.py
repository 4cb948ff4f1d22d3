"""The readers' journey against the real service: uvicorn on a free port, a real headless Chromium
(the session's), a local SMTP server (aiosmtpd) and the real CLI (`nightdesk deliver`, `nightdesk
subscribers import`) on the note really published for 2026-02-04 (plus two copies as neighbours).

subscribe -> confirmation mail -> confirm -> deliver sends to the reader -> one-click POST to the
message's own List-Unsubscribe URL -> the next deliver skips them -> import does not re-activate.
(docs/web-*.png come from scripts/web_screenshots.py, on real notes of several sessions.)
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import feedparser
import html5lib
import httpx
import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from archive_fixture import copy_date
from local_servers import MailSink, free_port

pytestmark = pytest.mark.slow  # uvicorn, a browser, Prefect flows

SECRET = "browser-test-secret-0123456789-abcdefghijk"


@dataclass
class Live:
    base: str
    smtp: MailSink
    output: Path
    root: Path


@pytest.fixture(scope="module")
def live(published, prefect_harness, tmp_path_factory):
    import uvicorn

    from nightdesk.settings import Settings
    from nightdesk.web.app import create_app

    src = published[0] / "2026-02-04"
    root = tmp_path_factory.mktemp("readers")
    output = root / "output"
    copy_date(src, output, "2026-02-03", "index_rally")  # with the story keys the narrative is to add (not delivered here:
    copy_date(src, output, "2026-02-04", None)           # narrative.compose.note_from_json refuses keys it does not know yet)
    copy_date(src, output, "2026-02-05", None)
    sink = MailSink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    (root / "none.toml").write_text("")  # an empty config: a missing $NIGHTDESK_CONFIG file is an error
    env = {"NIGHTDESK_CONFIG": root / "none.toml", "NIGHTDESK_OUTPUT_DIR": output, "NIGHTDESK_DELIVERY__DB_URL": f"sqlite:///{root}/subs.db",
           "NIGHTDESK_DELIVERY__TRANSPORT": "smtp", "NIGHTDESK_DELIVERY__SMTP__HOST": "127.0.0.1", "NIGHTDESK_DELIVERY__SMTP__PORT": smtp.port,
           "NIGHTDESK_DELIVERY__FROM_ADDR": "Nightdesk Desk <desk@nightdesk.news>", "NIGHTDESK_DELIVERY__UNSUBSCRIBE_MAILTO": "unsubscribe@nightdesk.news",
           "NIGHTDESK_WEB__BASE_URL": f"http://127.0.0.1:{port}", "NIGHTDESK_WEB__SECRET_KEY": SECRET}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, str(value))
        server = uvicorn.Server(uvicorn.Config(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield Live(f"http://127.0.0.1:{port}", sink, output, root)
        server.should_exit = True
        thread.join(10)
        smtp.stop()


def cli(*args: str):
    from nightdesk.cli.app import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def watch(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def overflow_px(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


JOURNEY = {1280: ("en", "bilingual", "You are subscribed", "reader.wide@nightdesk.news"),
           390: ("zh-Hant", "zh-Hant", "訂閱成功", "Reader.Narrow@nightdesk.news")}


@pytest.mark.parametrize("width", [1280, 390])
def test_reader_journey(browser, live, width):
    lang, edition, subscribed, address = JOURNEY[width]
    page = browser.new_page(viewport={"width": width, "height": 900 if width > 600 else 844})
    errors = watch(page)
    page.goto(f"{live.base}/{lang}/")
    assert page.locator("li.session").count() == 3 and overflow_px(page) <= 0
    page.click("nav.main >> text=" + {"en": "Subscribe", "zh-Hant": "訂閱"}[lang])
    assert page.url.endswith(f"/{lang}/subscribe") and overflow_px(page) <= 0
    page.fill("#email", address)
    page.select_option("#edition", edition)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"**/{lang}/subscribe/sent")
    confirmation = live.smtp.wait_for(address, {"en": "Confirm", "zh-Hant": "確認"}[lang])
    link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", confirmation.get_content()).group(0)
    page.goto(link)
    page.click("form.form button[type=submit]")
    assert page.locator("h1").inner_text() == subscribed and overflow_px(page) <= 0

    assert "sent 1," in cli("deliver", "--date", "2026-02-04")  # the other width's reader, if any, unsubscribed already
    note = live.smtp.wait_for(address, "2026-02-04")
    assert note["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and note["List-Id"].endswith("<nightdesk.127.0.0.1>")
    body = note.get_body(("plain",)).get_content()
    assert f"{live.base}/archive/2026-02-04/note.{'en' if edition == 'bilingual' else edition}.html" in body
    if edition == "bilingual":
        assert "Momentum" in body and "動能" in body  # English and 繁體 in one body
    unsubscribe_url = re.search(r"<(http[^>]+)>", note["List-Unsubscribe"]).group(1)
    assert unsubscribe_url.startswith(f"{live.base}/u/") and address.split("@")[0].lower() not in unsubscribe_url.lower()
    one_click = httpx.post(unsubscribe_url, content=b"List-Unsubscribe=One-Click",  # as a mailbox provider does (RFC 8058)
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert one_click.status_code == 200

    assert "sent 0," in cli("deliver", "--date", "2026-02-05")
    assert live.smtp.to(address, "2026-02-05") == []
    people = live.root / f"import-{width}.csv"
    people.write_text(f"email,name,language\n{address.upper() if width == 390 else address},Someone,en\n", encoding="utf-8")
    assert "imported 0, skipped 1" in cli("subscribers", "import", str(people))
    [row] = [line for line in cli("subscribers", "list").splitlines() if line.lower().startswith(address.lower())]
    assert row.split("\t")[2] == "unsubscribed"
    assert not errors, errors
    page.close()


def test_note_page_links_resolve_and_pages_validate(browser, live):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{live.base}/archive/2026-02-04/note.zh-Hant.html")
    links = sorted(set(page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")))
    assert all(u.startswith(live.base) for u in requests), requests  # the note fetches nothing from elsewhere
    assert len(links) >= 10, links  # archive, this session, 2 languages, 4 PDFs, previous and next session
    for url in links:
        r = page.request.get(url)
        assert r.ok, f"{url} -> {r.status}"
    page.click("a[rel=next]")
    assert page.url.endswith("/archive/2026-02-05/note.zh-Hant.html")
    page.click("a.nd-archive")
    assert page.url.endswith("/zh-Hant/") and "指數大漲" in page.content()
    assert not errors, errors
    page.close()
    for path in ("/zh-Hant/", "/archive/2026-02-04/note.zh-Hant.html", "/en/2026-02-04/"):
        html5lib.HTMLParser(strict=True).parse(httpx.get(live.base + path).text)  # raises on any parse error
    feed = feedparser.parse(httpx.get(f"{live.base}/zh-Hant/feed.atom").content)
    assert feed.bozo == 0 and [e.id.rsplit("/", 2)[1] for e in feed.entries] == ["2026-02-05", "2026-02-04", "2026-02-03"]
