"""The send ledger across runs and versions: claims of dead or stalled runs, kill -9 at random
moments, a database made by the first release. Real SQLite files, real SMTP, real processes."""
from __future__ import annotations

import datetime as dt
import importlib.util
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from nightdesk.delivery.message import mail_template
from nightdesk.delivery.send import deliver
from nightdesk.delivery.store import (
    SCHEMA_VERSION,
    SuppressedError,
    add_subscriber,
    connect,
    list_subscribers,
    schema_version,
    send_ledger,
)
from nightdesk.delivery.transport import OutboxTransport, SmtpTransport
from nightdesk.narrative.compose import email_summary, note_from_json

DATE = "2026-02-04"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def templates(published):
    folder = published[0] / DATE
    summary = email_summary(note_from_json((folder / "note.en.json").read_text(encoding="utf-8")))
    return {"en": mail_template(summary, folder / "note.en.pdf", note_date=DATE, language="en")}


def _deliver(engine, templates, transport, **kw):
    return deliver(engine, DATE, templates=templates, transport=transport, from_addr="Desk <desk@nightdesk.invalid>",
                   unsubscribe_mailto="u@nightdesk.invalid", unsubscribe_url="https://nightdesk.invalid/u", rate_per_s=1000,
                   backoff_s=(0.01,), **kw)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_claims_of_dead_or_lapsed_runs_are_taken_over_and_handed_over_messages_not_resent(tmp_path, templates, smtp):
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    people = [add_subscriber(engine, f"{n}@example.com") for n in ("ann", "bo", "cy", "di", "ed")]
    dead = f"{socket.gethostname()}:{_dead_pid()}:0:x"
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    later, soon, past = now + dt.timedelta(hours=1), now + dt.timedelta(seconds=0.4), now - dt.timedelta(seconds=1)
    rows = {  # subscriber -> (status, owner, lease expiry)
        "ann": ("sending", dead, later),  # killed on this host before the final dot: send
        "bo": ("committing", dead, later),  # killed after handing it over: the server has it, do not resend
        "cy": ("sending", "elsewhere:1:1:x", past),  # another host's lapsed lease: send
        "di": ("sending", "elsewhere:2:2:x", soon),  # another host's live lease: wait for it to lapse, then send
    }
    with engine.begin() as conn:
        for sub in people:
            status, owner, expires = rows.get(sub.email.split("@")[0], ("pending", None, None))
            conn.execute(send_ledger.insert().values(note_date=DATE, subscriber_id=sub.id, message_id="<m>", status=status, attempts=0,
                                                     updated_utc=now, claim_owner=owner, claim_expires_utc=expires))
    handler, port = smtp()
    rep = _deliver(engine, templates, SmtpTransport("127.0.0.1", port), wait_poll_s=0.05)
    assert handler.to() == ["ann@example.com", "cy@example.com", "di@example.com", "ed@example.com"]
    assert rep.complete and rep.sent == 4 and rep.skipped_already_sent == 1
    assert rep.notes == ["bo@example.com: a stopped run had handed the message over; taken as delivered, not resent"]
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(send_ledger.c.status)).scalars()) == {"sent"}


def test_a_bad_address_in_the_database_stops_nobody_else(tmp_path, templates, smtp):
    """An address an older version stored but that no longer validates: one line, the rest sent."""
    engine = connect(f"sqlite:///{tmp_path}/subs.db")
    add_subscriber(engine, "ann@example.com")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO subscribers (email, email_key, name, language, status, created_utc, unsubscribe_token) "
                             "VALUES ('bad@@example.com', 'bad@@example.com', '', 'en', 'active', '2026-01-01', 'tokbad')")
    add_subscriber(engine, "bo@example.com")
    handler, port = smtp()
    rep = _deliver(engine, templates, SmtpTransport("127.0.0.1", port))
    assert handler.to() == ["ann@example.com", "bo@example.com"]
    [line] = rep.not_sent
    assert line.startswith("bad@@example.com: not sent: email 'bad@@example.com'") and rep.error is None


def test_kill_9_at_random_moments_loses_and_doubles_nothing(published, tmp_path):
    """The benchmark's loop, short: five runs killed with SIGKILL while sending, then a clean
    run; every subscriber has exactly one message at the server (by Message-ID)."""
    spec = importlib.util.spec_from_file_location("kill_deliver", ROOT / "benchmarks" / "kill_deliver.py")
    kill_deliver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kill_deliver)
    res = kill_deliver.kill_loop(kills=5, batch=12, output_dir=published[0], work=tmp_path, seed=7, mode="core", log=lambda _: None)
    assert res["kills"] == 5 and res["subscribers"] >= 12 and res["final_exit"] == 0
    assert (res["lost"], res["doubled"]) == (0, 0), res


FIRST_SCHEMA = """
CREATE TABLE subscribers (
	id INTEGER NOT NULL, email VARCHAR(320) NOT NULL, name VARCHAR(200) NOT NULL, language VARCHAR(16) NOT NULL,
	status VARCHAR(16) NOT NULL, created_utc DATETIME NOT NULL, unsubscribe_token VARCHAR(64) NOT NULL,
	PRIMARY KEY (id), UNIQUE (email), UNIQUE (unsubscribe_token));
CREATE TABLE send_ledger (
	note_date VARCHAR(10) NOT NULL, subscriber_id INTEGER NOT NULL, message_id VARCHAR(200) NOT NULL, status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL, last_error TEXT, updated_utc DATETIME NOT NULL,
	PRIMARY KEY (note_date, subscriber_id), FOREIGN KEY(subscriber_id) REFERENCES subscribers (id));
"""
"""The DDL the first release's ``metadata.create_all`` emitted (read back from a file it made)."""


def test_a_database_of_the_first_release_is_migrated(tmp_path, templates):
    path = tmp_path / "subs.db"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_SCHEMA)
        db.executemany("INSERT INTO subscribers VALUES (?, ?, ?, ?, ?, '2026-01-02 10:00:00', ?)", [
            (1, "Alice@example.com", "Alice", "en", "active", "t1"),
            (2, "alice@example.com", "", "en", "unsubscribed", "t2"),  # the same reader, who unsubscribed under this spelling
            (3, "bo@example.com", "Bo", "en", "active", "t3")])
        db.execute("INSERT INTO send_ledger VALUES ('2026-02-04', 3, '<nightdesk.2026-02-04.3@nightdesk.invalid>', 'sent', 1, NULL, "
                   "'2026-02-04 23:00:00')")
    engine = connect(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
    assert [(s.email, s.status) for s in list_subscribers(engine)] == [("Alice@example.com", "unsubscribed"), ("bo@example.com", "active")]
    with pytest.raises(SuppressedError):  # the reader unsubscribed (under one spelling): only their own new request brings them back
        add_subscriber(engine, "ALICE@EXAMPLE.COM")
    back = add_subscriber(engine, "ALICE@EXAMPLE.COM", reactivate=True)  # keeps the first spelling and name
    assert (back.id, back.email, back.name, back.status) == (1, "Alice@example.com", "Alice", "active")
    rep = _deliver(connect(f"sqlite:///{path}"), templates, OutboxTransport(tmp_path / "outbox"))  # a second connect: nothing to migrate
    assert (rep.sent, rep.skipped_already_sent) == (1, 1)  # Alice now; Bo had it under the old version
    assert [p.name for p in (tmp_path / "outbox").glob("*.eml")] == ["nightdesk.2026-02-04.1_at_nightdesk.invalid.eml"]
