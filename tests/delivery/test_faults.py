"""Delivery faults (issue #24 points 1-9, #21's delivery parts): nothing lost, nothing doubled,
every failure one line. Real SMTP server (aiosmtpd), real SQLite file, the real CLI and flow."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections import Counter

import pytest

DATE = "2026-02-04"
SEND = {"from_addr": "Desk <desk@desk.news>", "unsubscribe_mailto": "unsubscribe@desk.news"}
WEB = {"base_url": "http://127.0.0.1:8080", "secret_key": "test-secret-key-0123456789-abcdefghijklmnop"}


def _add(cli, *people):
    for addr, name, lang in people:
        args = ["subscribers", "add", addr] + (["--name", name] if name else []) + (["--lang", lang] if lang else [])
        code, out, err, _ = cli(*args)
        assert code == 0, err


FOUR = [("ann@example.com", "Ann", "en"), ("bo@example.com", "Bo", "zh-Hant"), ("cy@example.com", "Cy", "zh-Hans"),
        ("di@example.com", "Di", "bilingual")]


def _ledger(cli) -> dict[str, str]:
    with sqlite3.connect(cli.db) as conn:
        return dict(conn.execute("SELECT s.email, l.status FROM send_ledger l JOIN subscribers s ON s.id = l.subscriber_id"))


def _statuses(cli) -> dict[str, str]:
    with sqlite3.connect(cli.db) as conn:
        return dict(conn.execute("SELECT email, status FROM subscribers"))


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- 1. auth / sender failures abort the run and mark nobody ------------------------------------


@pytest.mark.slow
def test_wrong_password_aborts_marks_nobody_then_rerun_sends_all(cli, smtp, published, prefect_harness):
    handler, port = smtp(auth=("desk", "right"))
    cli.env(output_dir=published[0], port=port, delivery__smtp__username="desk", delivery__smtp__password="wrong")
    _add(cli, *FOUR)
    code, out, err, _ = cli("deliver", "--date", DATE)
    assert code == 2 and handler.messages == []
    [line] = _error_lines(err)
    assert line.startswith("error: ") and "535" in line and f"127.0.0.1:{port}" in line and "wrong" not in line
    assert set(_statuses(cli).values()) == {"active"} and "failed" not in _ledger(cli).values()
    cli.env(delivery__smtp__password="right")
    code, out, err, _ = cli("deliver", "--date", DATE)
    assert code == 0, err
    assert handler.to() == sorted(a for a, _, _ in FOUR)


@pytest.mark.slow
@pytest.mark.parametrize("reply,code_seen", [(None, "530"), ("553 5.7.1 sender not allowed", "553")])
def test_sender_refused_aborts_marks_nobody(cli, smtp, published, reply, code_seen, prefect_harness):
    """530 (the server wants a login nightdesk was not given) or a 5xx to MAIL FROM."""
    handler, port = smtp(auth=("desk", "right")) if reply is None else smtp(reject_mail=reply)
    cli.env(output_dir=published[0], port=port)
    _add(cli, *FOUR)
    code, out, err, _ = cli("deliver", "--date", DATE)
    assert code == 2 and handler.messages == []
    [line] = _error_lines(err)
    assert line.startswith("error: ") and code_seen in line and "sender" in line
    assert set(_statuses(cli).values()) == {"active"} and "failed" not in _ledger(cli).values()


def test_readding_a_subscriber_keeps_what_was_not_given(cli, tmp_path):
    cli.env()
    _add(cli, ("bo@example.com", "Bo Chen", "zh-Hant"))
    _add(cli, ("bo@example.com", None, None))
    code, out, _, _ = cli("subscribers", "list")
    assert out.splitlines() == ["bo@example.com\tzh-Hant\tactive\tBo Chen"]
    _add(cli, ("bo@example.com", None, "en"))
    assert cli("subscribers", "list")[1].splitlines() == ["bo@example.com\ten\tactive\tBo Chen"]


# -- 2. two runs at once ----------------------------------------------------------------------


def _deliver_process(cli):
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value())
    return subprocess.Popen([sys.executable, "-m", "nightdesk.cli", "deliver", "--date", DATE], env=env, cwd=cli.db.parent.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_runs_at_once_send_one_copy_each(cli, smtp, published, prefect_harness):
    handler, port = smtp(gate=2)  # the first message waits until both runs have started sending
    cli.env(output_dir=published[0], port=port)
    people = [(f"p{i}@example.com", f"P{i}", "en") for i in range(8)]
    _add(cli, *people)
    runs = [_deliver_process(cli), _deliver_process(cli)]
    outs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outs
    assert len(handler.sessions) == 2  # both really sent
    assert Counter(handler.message_ids()).most_common(1)[0][1] == 1
    assert handler.to() == sorted(a for a, _, _ in people)


# -- 3. a locked database mid-delivery --------------------------------------------------------


@pytest.mark.slow
def test_database_locked_mid_delivery_sends_one_copy_each(cli, smtp, published, lock_db, prefect_harness):
    """Locked for 6 s (longer than the SQLite driver's 5 s wait) right after the server accepts
    the first message: the run waits, records it, and nobody gets two copies."""
    cli.env(output_dir=published[0])
    _add(cli, *FOUR)
    handler, port = smtp(on_data=lambda n: lock_db(cli.db, 6.0) if n == 1 else None)
    cli.env(port=port)
    codes = [cli("deliver", "--date", DATE)[0], cli("deliver", "--date", DATE)[0]]  # the second: what a retry or rerun does
    assert Counter(handler.message_ids()).most_common(1)[0][1] == 1
    assert handler.to() == sorted(a for a, _, _ in FOUR) and codes == [0, 0]
    assert set(_ledger(cli).values()) == {"sent"}


# -- 4. internationalised addresses -----------------------------------------------------------

IDN = [("用户@例子.广告", "用户", "en"), ("user@münchen.de", "Jörg", "en"), ("ann@example.com", "Ann", "en")]


@pytest.mark.slow
def test_idn_addresses_sent_with_smtputf8(cli, smtp, published, prefect_harness):
    handler, port = smtp(smtputf8=True)
    cli.env(output_dir=published[0], port=port)
    _add(cli, *IDN)
    code, out, err, _ = cli("deliver", "--date", DATE)
    assert code == 0, err
    assert handler.to() == sorted(["用户@例子.广告", "user@xn--mnchen-3ya.de", "ann@example.com"])
    [utf8] = [raw for raw in handler.raw if "用户@例子.广告".encode() in raw]
    assert b"\nTo: " in utf8 and ["SMTPUTF8", "BODY=8BITMIME"] in handler.mail_options
    assert handler.mail_options.count([]) == 2  # only the non-ASCII mailbox needed SMTPUTF8


@pytest.mark.slow
def test_idn_mailbox_without_smtputf8_is_one_line_and_others_are_sent(cli, smtp, published, prefect_harness):
    handler, port = smtp(smtputf8=False)
    cli.env(output_dir=published[0], port=port)
    _add(cli, *IDN)
    code, out, err, _ = cli("deliver", "--date", DATE)
    assert code == 1
    assert handler.to() == ["ann@example.com", "user@xn--mnchen-3ya.de"]
    [line] = _error_lines(err)
    assert line.startswith("not sent: 用户@例子.广告") and "SMTPUTF8" in line
    assert _statuses(cli)["用户@例子.广告"] == "active"  # not the subscriber's fault: not bounced
    code, _, _, _ = cli("deliver", "--date", DATE)  # a rerun sends nothing twice
    assert code == 1 and len(handler.messages) == 2


# -- 5. a missing edition ---------------------------------------------------------------------


def _unpublish(folder, name):
    (folder / name).unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = [f for f in manifest["files"] if f["path"] != name]
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.slow
def test_missing_edition_reports_its_subscribers_and_sends_the_rest(cli, smtp, note_copy, prefect_harness):
    out, folder = note_copy
    _unpublish(folder, "note.zh-Hant.pdf")
    handler, port = smtp()
    cli.env(output_dir=out, port=port)
    _add(cli, ("bo@example.com", "Bo", "zh-Hant"), ("ann@example.com", "Ann", "en"), ("ed@example.com", "Ed", "en"))
    code, stdout, err, secs = cli("deliver", "--date", DATE)
    assert code == 1 and handler.to() == ["ann@example.com", "ed@example.com"]
    [line] = _error_lines(err)
    assert line.startswith("not sent: bo@example.com: the zh-Hant edition (note.zh-Hant.pdf) is not published")
    assert "sent 2" in stdout and secs < 20  # no retries of a missing file (45 s before)


@pytest.mark.slow
def test_partial_delivery_is_a_failed_flow_run(note_copy, smtp, tmp_path, prefect_harness):
    from nightdesk.delivery.send import DeliveryFailed
    from nightdesk.delivery.store import add_subscriber, connect
    from nightdesk.flows.deliver import deliver_note
    from nightdesk.settings import Settings

    out, folder = note_copy
    _unpublish(folder, "note.zh-Hans.pdf")
    handler, port = smtp()
    settings = Settings(output_dir=out, delivery={"db_url": f"sqlite:///{tmp_path}/s.db", "transport": "smtp", "smtp": {"port": port}, **SEND},
                        web=WEB)
    engine = connect(settings.delivery.db_url)
    add_subscriber(engine, "cy@example.com", language="zh-Hans")
    add_subscriber(engine, "ann@example.com")
    state = deliver_note(__import__("datetime").date(2026, 2, 4), settings, return_state=True)
    failed = state.result(raise_on_failure=False)
    assert isinstance(failed, DeliveryFailed), (state, failed)
    report = failed.report
    assert state.is_failed() and "cy@example.com" in state.message
    assert (report.sent, len(report.not_sent)) == (1, 1) and handler.to() == ["ann@example.com"]


# -- 6. damaged files: nothing sent -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["note.en.pdf", "facts.json", "note.zh-Hant.json", "charts/flows_intensity.en.svg"])
def test_truncated_file_is_one_line_and_nothing_is_sent(cli, smtp, note_copy, name, prefect_harness):
    out, folder = note_copy
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    handler, port = smtp()
    cli.env(output_dir=out, port=port)
    _add(cli, *FOUR)
    code, stdout, err, secs = cli("deliver", "--date", DATE)
    assert code == 2 and handler.messages == []
    [line] = _error_lines(err)
    assert line.startswith("error: ") and name in line and "manifest.json" in line
    assert secs < 5  # before any Prefect start-up (47 s of retries and a traceback before)


@pytest.mark.slow
def test_delivered_pdf_is_the_published_one(cli, smtp, published, prefect_harness):
    handler, port = smtp()
    cli.env(output_dir=published[0], port=port)
    _add(cli, ("ann@example.com", "Ann", "en"))
    assert cli("deliver", "--date", DATE)[0] == 0
    manifest = {f["path"]: f["sha256"] for f in json.loads((published[0] / DATE / "manifest.json").read_text())["files"]}
    [pdf] = handler.messages[0].iter_attachments()
    assert hashlib.sha256(pdf.get_content()).hexdigest() == manifest["note.en.pdf"]


# -- 7. the SMTP server is down ---------------------------------------------------------------


@pytest.mark.slow
def test_smtp_server_down_fails_fast_with_the_reason(cli, published, free_port, prefect_harness):
    port = free_port()  # nothing listens there
    cli.env(output_dir=published[0], port=port)
    _add(cli, *FOUR[:3])
    code, out, err, secs = cli("deliver", "--date", DATE)
    assert code == 2
    [line] = _error_lines(err)
    assert line.startswith("error: ") and f"127.0.0.1:{port}" in line and "refused" in line
    assert secs < 15  # 82 s before, with no reason printed
    assert set(_statuses(cli).values()) == {"active"} and set(_ledger(cli).values()) <= {"pending"}


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["down", "password"])
def test_smtp_failure_fails_the_flow_run_at_once_marking_nobody(published, tmp_path, free_port, smtp, prefect_harness, fault):
    """The same inside the flow (a served deployment has no CLI check before it)."""
    from nightdesk.delivery.store import add_subscriber, connect, list_subscribers
    from nightdesk.flows.deliver import deliver_note
    from nightdesk.settings import Settings

    port, login = free_port(), {}
    if fault == "password":
        handler, port = smtp(auth=("desk", "right"))
        login = {"username": "desk", "password": "wrong"}
    settings = Settings(output_dir=published[0], delivery={"db_url": f"sqlite:///{tmp_path}/s.db", "transport": "smtp",
                                                           "smtp": {"port": port, **login}, **SEND}, web=WEB)
    engine = connect(settings.delivery.db_url)
    for who in ("ann", "bo", "cy"):
        add_subscriber(engine, f"{who}@example.com")
    state = deliver_note(__import__("datetime").date(2026, 2, 4), settings, return_state=True)
    assert state.is_failed() and f"SMTP server 127.0.0.1:{port}" in state.message
    assert ("connection refused" if fault == "down" else "535") in state.message
    assert {s.status for s in list_subscribers(engine)} == {"active"}
    with engine.connect() as conn:
        assert set(conn.exec_driver_sql("SELECT status FROM send_ledger").scalars()) == {"pending"}


# -- 8. addresses, CSV import, an unusable database ------------------------------------------


def test_addresses_are_unique_whatever_their_case(cli):
    cli.env()
    _add(cli, ("Alice@Example.com", "Alice", "en"), ("alice@example.com", None, None), ("ALICE@EXAMPLE.COM", None, "zh-Hans"))
    code, out, _, _ = cli("subscribers", "list")
    assert out.splitlines() == ["Alice@example.com\tzh-Hans\tactive\tAlice"]  # as first given (domain lower-cased)
    assert cli("subscribers", "remove", "aLiCe@example.com")[0] == 0
    assert cli("subscribers", "list", "--status", "unsubscribed")[1].startswith("Alice@example.com")


def test_csv_with_bom_imports_and_latin1_is_one_line(cli, tmp_path):
    cli.env()
    bom = tmp_path / "bom.csv"
    bom.write_bytes("email,name,language\nann@example.com,Ann,en\nbo@example.com,博,zh-Hant\n".encode("utf-8-sig"))
    code, out, err, _ = cli("subscribers", "import", str(bom))
    assert code == 0 and out.strip() == "imported 2, skipped 0", err
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name,language\njose@example.com,José,en\n".encode("latin-1"))
    code, out, err, _ = cli("subscribers", "import", str(latin))
    [line] = _error_lines(err)
    assert code == 2 and line.startswith("error: ") and str(latin) in line and "UTF-8" in line and "line 2" in line


def test_locked_database_during_add_is_one_line(cli, lock_db):
    cli.env()
    _add(cli, ("ann@example.com", "Ann", "en"))
    cli.env(delivery__db_lock_wait_s="0.3")
    lock_db(cli.db, 3.0)
    code, out, err, secs = cli("subscribers", "add", "bo@example.com")
    [line] = _error_lines(err)
    assert code == 2 and line.startswith("error: subscriber database") and "locked" in line and secs < 2.5


@pytest.fixture
def read_only_dir(tmp_path):
    """A real read-only file system (a tmpfs remounted read-only): needs root and mount(8)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("needs root and mount to make a read-only file system")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_database_on_a_read_only_file_system_is_one_line(cli, read_only_dir):
    cli.db = read_only_dir / "subs.db"
    cli.env()
    _add(cli, ("ann@example.com", "Ann", "en"))
    __import__("gc").collect()  # the CLI's engine: its pooled connections hold the files open for writing
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_dir)], check=True)
    for args in (["subscribers", "add", "bo@example.com"], ["subscribers", "import", __file__]):
        code, out, err, _ = cli(*args)
        [line] = _error_lines(err)
        assert code == 2 and line.startswith("error: subscriber database") and "read-only" in line.lower(), line


# -- 9. header injection through settings ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("key,value", [("unsubscribe_url", "https://x.example/u\r\nBcc: all@example.com"),
                                       ("from_addr", "Desk <desk@x.example>\nBcc: all@example.com"),
                                       ("unsubscribe_mailto", "u@x.example\r\nX-Evil: 1")])
def test_line_break_in_a_header_setting_is_refused(cli, smtp, published, key, value, prefect_harness):
    handler, port = smtp()
    cli.env(output_dir=published[0], port=port)
    _add(cli, ("ann@example.com", "Ann", "en"))
    cli.env(**{f"delivery__{key}": value})
    code, out, err, _ = cli("deliver", "--date", DATE)
    [line] = _error_lines(err)
    assert code == 2 and line.startswith(f"error: settings: delivery.{key}") and handler.messages == []


def test_line_break_refused_when_building_a_message_too(tmp_path):
    from nightdesk.mail_headers import HeaderValueError
    from nightdesk.delivery.message import build_message, mail_template
    from nightdesk.delivery.store import Subscriber

    summary = {"lang": "en", "title": "US Equity Strategy | T", "date_label": "x", "headline": "h", "takeaways": ["a", "b", "c"],
               "disclaimer": ["d1", "d2"], "attachment_line": "att", "unsubscribe_label": "Unsubscribe"}
    template = mail_template(summary, b"%PDF-1.7\n", note_date=DATE, language="en")
    sub = Subscriber(1, "ann@example.com", "Ann", "en", "active", "tok")
    with pytest.raises(HeaderValueError, match="unsubscribe_url"):
        build_message(sub, template, note_date=DATE, from_addr="d@x.example", unsubscribe_mailto="u@x.example",
                      unsubscribe_url="https://x.example/u\r\nBcc: all@example.com")


# -- #21: no retries where they cannot help; outbox outside the published tree -----------------


@pytest.mark.slow
def test_no_published_note_fails_at_once_in_the_flow(tmp_path, prefect_harness):
    import datetime as dt
    import time

    from nightdesk.flows.deliver import deliver_note
    from nightdesk.settings import Settings

    settings = Settings(output_dir=tmp_path / "out", delivery={"db_url": f"sqlite:///{tmp_path}/s.db"})
    t0 = time.perf_counter()
    state = deliver_note(dt.date(2026, 2, 4), settings, return_state=True)
    assert state.is_failed() and state.message.startswith("no published note for 2026-02-04")
    assert time.perf_counter() - t0 < 20  # retried for 35 s (5 + 30) before


@pytest.mark.slow
def test_outbox_is_private_and_outside_the_published_tree(cli, published, prefect_harness):
    out, _ = published
    cli.env(output_dir=out)
    _add(cli, *FOUR)
    code, stdout, err, _ = cli("deliver", "--date", DATE)
    assert code == 0, err
    box = cli.db.parent / "outbox" / DATE
    assert len(list(box.glob("*.eml"))) == 4 and stat.S_IMODE(box.stat().st_mode) == 0o700
    assert stdout.strip().endswith(f"; .eml files in {box}")  # the summary says where the messages went
    assert list(out.rglob("*.eml")) == []
