"""The readers' side of delivery: the suppression list honoured by add/import (and the CLI), the
signed links, List-Id and bilingual body of the emails, the refusal of placeholder addresses for a
real SMTP send, and mailto unsubscribe requests from a maildir."""
from __future__ import annotations

import email
import email.policy
import mailbox
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from nightdesk.delivery.store import SuppressedError, add_subscriber, connect, import_csv, list_subscribers, set_status
from nightdesk.delivery.tokens import Tokens

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


def test_unsubscribed_and_bounced_addresses_stay_suppressed(tmp_path):
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    add_subscriber(engine, "ann@desk.news", language="en")
    add_subscriber(engine, "bo@desk.news", language="zh-Hant")
    set_status(engine, "ann@desk.news", "unsubscribed", source="web:one-click")
    set_status(engine, "bo@desk.news", "bounced")
    for address in ("ann@desk.news", "ANN@desk.news", "bo@desk.news"):
        with pytest.raises(SuppressedError, match="suppression list"):
            add_subscriber(engine, address)
    ok, problems = import_csv(engine, "email,name,language\nann@desk.news,Ann,en\nBo@desk.news,Bo,en\ncy@desk.news,Cy,en\n")
    assert ok == 1 and [p.split(":")[0] for p in problems] == ["line 2", "line 3"] and all("unsubscribed" in p or "bounced" in p for p in problems)
    assert {s.email: s.status for s in list_subscribers(engine)} == {"ann@desk.news": "unsubscribed", "bo@desk.news": "bounced",
                                                                     "cy@desk.news": "active"}
    add_subscriber(engine, "ann@desk.news", reactivate=True)  # the operator's explicit flag
    assert [s.email for s in list_subscribers(engine, status="active")] == ["ann@desk.news", "cy@desk.news"]
    add_subscriber(engine, "ann@desk.news")  # lifted: an update no longer needs the flag
    set_status(engine, "ann@desk.news", "unsubscribed")
    ok, _ = import_csv(engine, "email\nann@desk.news\n", reactivate=True)
    assert ok == 1 and list_subscribers(engine, status="unsubscribed") == []


def test_a_database_from_before_the_list_is_honoured_too(tmp_path):
    """Rows unsubscribed before the suppression table existed are suppressed by their status."""
    import sqlalchemy as sa

    from nightdesk.delivery.store import subscribers

    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    add_subscriber(engine, "old@desk.news")
    with engine.begin() as conn:
        conn.execute(sa.update(subscribers).values(status="unsubscribed"))  # as an older version left it
    with pytest.raises(SuppressedError):
        add_subscriber(engine, "old@desk.news")


def test_cli_add_and_import_refuse_suppressed_addresses(tmp_path, monkeypatch):
    from nightdesk.cli.app import app

    (tmp_path / "none.toml").write_text("")  # an empty config: a missing $NIGHTDESK_CONFIG file is an error
    monkeypatch.setenv("NIGHTDESK_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("NIGHTDESK_DELIVERY__DB_URL", f"sqlite:///{tmp_path}/subs.db")
    run = CliRunner().invoke
    assert run(app, ["subscribers", "add", "ann@desk.news"]).exit_code == 0
    assert run(app, ["subscribers", "remove", "ann@desk.news"]).exit_code == 0
    refused = run(app, ["subscribers", "add", "ann@desk.news"])
    assert refused.exit_code == 2 and refused.output.count("\n") == 1 and refused.output.startswith("error: email 'ann@desk.news': unsubscribed")
    csv = tmp_path / "people.csv"
    csv.write_text("email,name,language\nann@desk.news,Ann,en\n")
    imported = run(app, ["subscribers", "import", str(csv)])
    assert imported.exit_code == 0 and "imported 0, skipped 1" in imported.output
    assert "ann@desk.news\ten\tunsubscribed" in run(app, ["subscribers", "list"]).output
    assert run(app, ["subscribers", "add", "ann@desk.news", "--reactivate"]).exit_code == 0
    assert "ann@desk.news\ten\tactive" in run(app, ["subscribers", "list"]).output


@pytest.mark.parametrize("from_addr, mailto, base_url, problems", [
    ("Desk <desk@desk.news>", "unsubscribe@desk.news", "https://notes.desk.news", []),
    ("Desk <desk@desk.news>", "unsubscribe@desk.news", "http://127.0.0.1:8080", []),  # loopback: a local test
    ("Nightdesk Strategy <strategy@nightdesk.invalid>", "unsubscribe@nightdesk.invalid", "https://nightdesk.invalid/unsubscribe",
     ["from_addr", "unsubscribe_mailto", "base_url"]),  # the defaults
    ("Desk <desk@example.com>", "u@mail.example.org", "https://example.net", ["from_addr", "unsubscribe_mailto", "base_url"]),
    ("Desk <desk@desk.test>", "u@desk.news", "https://localhost", ["from_addr", "base_url"]),
    ("Desk <desk@desk.news>", "u@desk.news", "http://notes.desk.news", ["base_url"]),  # not https
])
def test_placeholder_addresses_stop_a_real_send(from_addr, mailto, base_url, problems):
    from nightdesk.delivery.links import sending_problems

    found = sending_problems(from_addr=from_addr, unsubscribe_mailto=mailto, base_url=base_url)
    assert [p.split(" ")[0].split(".")[-1] for p in found] == problems

    if not problems:  # the same URL left at its default is refused: the emails would link to 127.0.0.1
        unset = sending_problems(from_addr=from_addr, unsubscribe_mailto=mailto, base_url=base_url, base_url_set=False)
        assert [p.split(" ")[0] for p in unset] == ["web.base_url"]


@pytest.mark.slow  # a few seconds: the full suite runs it
def test_deliver_flow_refuses_smtp_with_the_default_addresses():
    from nightdesk.flows.deliver import DeliveryError, reader_links
    from nightdesk.settings import Settings

    smtp = Settings(delivery={"transport": "smtp"}, web={"secret_key": SECRET})
    with pytest.raises(DeliveryError, match="refusing to send by SMTP: delivery.from_addr"):
        reader_links(smtp)
    no_key = Settings(delivery={"transport": "smtp", "from_addr": "d@desk.news", "unsubscribe_mailto": "u@desk.news"},
                      web={"base_url": "https://notes.desk.news"})
    with pytest.raises(DeliveryError, match="web.secret_key is not set"):
        reader_links(no_key)
    assert reader_links(Settings()) is None  # the outbox demo keeps its plain links
    unset_site = Settings(delivery={"transport": "smtp", "from_addr": "d@desk.news", "unsubscribe_mailto": "u@desk.news"},
                          web={"secret_key": SECRET})
    with pytest.raises(DeliveryError, match="web.base_url is not set"):
        reader_links(unset_site)
    assert reader_links(no_key.model_copy(update={"web": no_key.web.model_copy(update={"secret_key": smtp.web.secret_key})})) is not None


def _summary(lang: str) -> dict:
    words = {"en": ("US Equity Strategy | Crash", "Momentum crashed", "Unsubscribe", "The full note is attached."),
             "zh-Hant": ("美股策略｜動能重挫", "動能因子重挫", "取消訂閱", "完整報告請見附件PDF。")}[lang]
    return {"lang": lang, "title": words[0], "date_label": "4 Feb 2026", "headline": words[1], "takeaways": [f"{lang} one", f"{lang} two"],
            "disclaimer": [f"{lang} disclaimer"], "attachment_line": words[3], "unsubscribe_label": words[2]}


def test_email_carries_signed_links_list_id_and_a_bilingual_body(tmp_path):
    from nightdesk.delivery.links import ReaderLinks, edition_summary
    from nightdesk.delivery.message import build_message, mail_template
    from nightdesk.delivery.store import Subscriber

    pdf = tmp_path / "n.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    tokens = Tokens(SECRET)
    links = ReaderLinks("https://notes.desk.news", tokens, "unsubscribe@desk.news")
    summary = edition_summary([_summary("en"), _summary("zh-Hant")], note_date="2026-02-04", base_url="https://notes.desk.news")
    sub = Subscriber(7, "di@desk.news", "Di", "bilingual", "active", "dbtoken123")
    msg = email.message_from_bytes(build_message(sub, mail_template(summary, pdf, note_date="2026-02-04", language="bilingual"),
                                                 note_date="2026-02-04", from_addr="Desk <desk@desk.news>", unsubscribe_mailto="ignored",
                                                 unsubscribe_url=links).data, policy=email.policy.default)
    assert msg["List-Id"] == "Nightdesk US equity strategy <nightdesk.notes.desk.news>"
    mailto, https = [part.strip(" <>") for part in msg["List-Unsubscribe"].split(",")]
    assert https.startswith("https://notes.desk.news/u/") and tokens.read_unsubscribe(https.rsplit("/", 1)[1]) == "dbtoken123"
    assert "dbtoken123" not in https.replace(tokens.unsubscribe("dbtoken123"), "")  # only the signed form appears
    assert mailto.startswith("mailto:unsubscribe@desk.news?subject=") and tokens.unsubscribe("dbtoken123") in unquote(mailto)
    for kind in ("plain", "html"):
        body = msg.get_body((kind,)).get_content()
        assert "Momentum crashed" in body and "動能因子重挫" in body and "en one" in body and "zh-Hant one" in body  # both languages
        assert "https://notes.desk.news/archive/2026-02-04/note.en.html" in body
        assert "https://notes.desk.news/archive/2026-02-04/note.zh-Hant.html" in body
        assert https in body and https.replace("/u/", "/p/") in body  # unsubscribe and language-preference links
    html = msg.get_body(("html",)).get_content()
    assert "Read online" in html and "線上閱讀" in html and "Change language or edition / 變更語言或版本" in html
    single = edition_summary([_summary("en")], note_date="2026-02-04", base_url=None)
    assert "read_online_url" not in single["parts"][0] and "list_id" not in single  # no site configured: no site links


def test_mailto_requests_in_a_maildir_unsubscribe_by_token(tmp_path):
    from nightdesk.delivery.mailto import process_maildir

    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    ann = add_subscriber(engine, "ann@desk.news")
    add_subscriber(engine, "bo@desk.news")
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    tokens = Tokens(SECRET)
    for subject in (f"unsubscribe {tokens.unsubscribe(ann.unsubscribe_token)}", "unsubscribe forged.token", "please remove me"):
        m = email.message.EmailMessage()
        m["From"], m["To"], m["Subject"] = "bo@desk.news", "unsubscribe@desk.news", subject  # From proves nothing
        m.set_content("")
        box.add(m)
    rep = process_maildir(engine, tmp_path / "inbox", tokens)
    assert (rep.unsubscribed, rep.already, rep.invalid) == (1, 0, 2)
    assert [s.email for s in list_subscribers(engine, status="active")] == ["bo@desk.news"]
    again = process_maildir(engine, tmp_path / "inbox", tokens)
    assert (again.unsubscribed, again.already, again.invalid) == (0, 0, 0)  # each request is read once
