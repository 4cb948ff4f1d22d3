"""Delivery against a real local SMTP server (aiosmtpd on 127.0.0.1)."""
from __future__ import annotations

import email
import email.policy
import json
import stat

import pytest

from nightdesk.delivery.send import deliver
from nightdesk.delivery.store import SubscriberError, add_subscriber, connect, import_csv, list_subscribers, set_status
from nightdesk.delivery.transport import OutboxTransport, SmtpTransport
from nightdesk.narrative.compose import email_summary, note_from_json


@pytest.fixture(scope="module")
def facts(published):
    out, _ = published
    return json.loads((out / "2026-02-04" / "facts.json").read_text()), out / "2026-02-04"


def _people(engine):
    add_subscriber(engine, "ann@example.com", name="Ann", language="en")
    add_subscriber(engine, "bo@example.com", name="Bo", language="zh-Hant")
    add_subscriber(engine, "cy@example.com", name="Cy", language="zh-Hans")
    add_subscriber(engine, "di@example.com", name="Di", language="bilingual")
    add_subscriber(engine, "ed@example.com", name="Ed", language="en")
    set_status(engine, "ed@example.com", "unsubscribed")


def _summary(folder, lang: str) -> dict:
    key = "en" if lang == "bilingual" else lang
    return email_summary(note_from_json((folder / f"note.{key}.json").read_text(encoding="utf-8")))


def _templates(folder):
    from nightdesk.delivery.message import mail_template

    return {lang: mail_template(_summary(folder, lang), folder / f"note.{lang}.pdf", note_date="2026-02-04", language=lang)
            for lang in ("en", "zh-Hant", "zh-Hans", "bilingual")}


def _send(engine, folder, facts, transport, **kw):
    return deliver(engine, "2026-02-04", templates=_templates(folder), transport=transport,
                   from_addr="Desk <desk@nightdesk.invalid>", unsubscribe_mailto="u@nightdesk.invalid",
                   unsubscribe_url="https://nightdesk.invalid/u", rate_per_s=1000, backoff_s=(0.01,), **kw)


def test_right_people_right_language(tmp_path, facts, smtp):
    f, folder = facts
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    assert stat.S_IMODE((tmp_path / "subs.db").stat().st_mode) == 0o600
    _people(engine)
    handler, port = smtp()
    rep = _send(engine, folder, f, SmtpTransport("127.0.0.1", port))
    assert rep.sent == 4
    got = {m["To"].addresses[0].addr_spec: m for m in handler.messages}
    assert set(got) == {"ann@example.com", "bo@example.com", "cy@example.com", "di@example.com"}  # not ed
    bo = got["bo@example.com"]
    assert "美股策略" in bo["Subject"]
    assert bo["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and "mailto:" in bo["List-Unsubscribe"]
    att = [p for p in bo.iter_attachments()]
    assert att[0].get_content_type() == "application/pdf" and att[0].get_filename().endswith("zh-Hant.pdf")
    assert att[0].get_content()[:4] == b"%PDF"
    text = bo.get_body(("plain",)).get_content()
    assert "僅供參考" in text and "多空動能組合下跌7.5%" in text  # the headline figure, hand-checked for 2026-02-04
    cy = got["cy@example.com"].get_body(("plain",)).get_content()
    assert "多空动量组合" in cy and "仅供参考" in cy
    assert [p.get_filename() for p in got["di@example.com"].iter_attachments()] == ["nightdesk-2026-02-04-bilingual.pdf"]


def test_drop_then_resume_exactly_once(tmp_path, facts, smtp):
    f, folder = facts
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    _people(engine)
    handler, port = smtp(drop_after=2)
    rep = _send(engine, folder, f, SmtpTransport("127.0.0.1", port))
    assert rep.retried >= 1 and rep.sent == 4
    again = _send(engine, folder, f, SmtpTransport("127.0.0.1", port))
    assert again.sent == 0 and again.skipped_already_sent == 4
    to = sorted(m["To"].addresses[0].addr_spec for m in handler.messages)
    assert to == ["ann@example.com", "bo@example.com", "cy@example.com", "di@example.com"]


def test_permanent_failure_marks_bounced(tmp_path, facts, smtp):
    f, folder = facts
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    _people(engine)
    handler, port = smtp(reject="bo@example.com")
    rep = _send(engine, folder, f, SmtpTransport("127.0.0.1", port))
    assert rep.sent == 3 and rep.failed_permanent == 1
    assert [s.email for s in list_subscribers(engine, status="bounced")] == ["bo@example.com"]


def test_outbox_transport(tmp_path, facts):
    f, folder = facts
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    _people(engine)
    rep = _send(engine, folder, f, OutboxTransport(tmp_path / "outbox"))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert rep.sent == 4 and len(files) == 4
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_header_injection_and_import_report(tmp_path):
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    with pytest.raises(SubscriberError, match="line break"):
        add_subscriber(engine, "x@example.com\r\nBcc: all@example.com")
    with pytest.raises(SubscriberError, match="control characters"):
        add_subscriber(engine, "y@example.com", name="Y\nBcc: z@example.com")
    ok, problems = import_csv(engine, "email,name,language\na@example.com,A,en\nnot-an-email,B,en\nb@example.com,B,fr\na@example.com,A2,en\n")
    assert ok == 1
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5"]


def test_prepared_message_parses_and_survives_smtp(smtp, tmp_path):
    """A message assembled from the edition template: per-subscriber link in both bodies,
    encoded CJK name and subject, PDF byte-exact after a real SMTP conversation."""
    from nightdesk.delivery.message import build_message, mail_template
    from nightdesk.delivery.store import Subscriber

    handler, port = smtp()
    pdf = tmp_path / "n.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 400)
    summary = {"lang": "zh-Hant", "title": "美股策略｜動能重挫", "date_label": "x", "headline": "h",
               "takeaways": ["a", "b", "c"], "disclaimer": ["d1", "d2"], "attachment_line": "附件", "unsubscribe_label": "取消訂閱"}
    template = mail_template(summary, pdf, note_date="2026-02-04", language="zh-Hant")
    t = SmtpTransport("127.0.0.1", port)
    for i, (name, tok) in enumerate([("陳大文", "tokA"), ("Bo", "tokB")], start=1):
        t.send(build_message(Subscriber(i, f"u{i}@example.com", name, "zh-Hant", "active", tok), template, note_date="2026-02-04",
                             from_addr="Nightdesk <desk@nightdesk.invalid>", unsubscribe_mailto="u@x", unsubscribe_url="https://x/u"))
    t.close()
    first, second = handler.messages
    assert first["To"].addresses[0].display_name == "陳大文" and first["Subject"] == "美股策略｜2026-02-04：動能重挫"
    assert "token=tokA" in first.get_body(("plain",)).get_content() and "token=tokA" in first.get_body(("html",)).get_content()
    assert "token=tokB" in second.get_body(("plain",)).get_content() and "tokA" not in second.as_string()
    assert next(first.iter_attachments()).get_content() == pdf.read_bytes()
    assert next(first.iter_attachments()).get_filename() == "nightdesk-2026-02-04-zh-Hant.pdf"


def test_raw_send_dot_stuffs(smtp):
    """The transport's own DATA step doubles a leading '.' (RFC 5321 4.5.2); the server gets the line back intact."""
    from nightdesk.delivery.message import Outgoing

    handler, port = smtp()
    data = b"Subject: dots\r\nMessage-ID: <d@x>\r\n\r\nfirst\r\n.second\r\n..third\r\n"
    t = SmtpTransport("127.0.0.1", port)
    t.send(Outgoing("d@x.invalid", "ann@example.com", "<d@x>", data))
    t.close()
    [got] = handler.messages
    assert got.get_content().replace("\r\n", "\n") == "first\n.second\n..third\n"  # unstuffed would lose a dot


def test_non_ascii_sender_name_keeps_the_address(tmp_path):
    """A Chinese display name in From is encoded on its own; the address stays parseable."""
    from nightdesk.delivery.message import build_message, mail_template
    from nightdesk.delivery.store import Subscriber

    pdf = tmp_path / "n.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    summary = {"lang": "en", "title": "US Equity Strategy | Test", "date_label": "x", "headline": "h",
               "takeaways": ["a", "b", "c"], "disclaimer": ["d1", "d2"], "attachment_line": "att", "unsubscribe_label": "Unsubscribe"}
    msg = build_message(Subscriber(1, "ann@example.com", "Ann", "en", "active", "tok"), mail_template(summary, pdf, note_date="2026-02-04", language="en"),
                        note_date="2026-02-04", from_addr="夜盤策略 <desk@nightdesk.example>", unsubscribe_mailto="u@x", unsubscribe_url="https://x/u")
    parsed = email.message_from_bytes(msg.data, policy=email.policy.default)
    [sender] = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("夜盤策略", "desk@nightdesk.example")
    assert msg.mail_from == "desk@nightdesk.example" and msg.message_id.endswith("@nightdesk.example>")
