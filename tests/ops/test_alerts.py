"""Failures seen: a failed night, a backfill with failed dates and a failed delivery end Failed and
send exactly one operator alert (a real SMTP server and a real HTTP webhook on 127.0.0.1)."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from nightdesk.delivery.alerts import Alert, send_alert
from nightdesk.marketdata.registry import get_provider
from nightdesk.settings import Settings


class DeadProvider:
    """The sample provider whose every call fails like a provider that is down."""

    def __init__(self):
        self.inner = get_provider("sample")
        self.name = "sample"
        self.calls = 0

    def coverage(self):
        self.calls += 1
        raise ConnectionError("provider timed out")

    def __getattr__(self, item):
        return getattr(self.inner, item)


class Buggy(DeadProvider):
    """A provider with a bug: a KeyError is not an I/O error and is not retried."""

    def coverage(self):
        self.calls += 1
        raise KeyError("close")


def closed_port() -> int:
    """A port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(tmp_path, **kw) -> Settings:
    base = {"output_dir": tmp_path / "out", "langs": ["en"], "fetch_retry_delays_s": [0.05, 0.05], "history_days": 700,
            "delivery": {"db_url": f"sqlite:///{tmp_path}/subs.db", "transport": "outbox"}}
    return Settings(**{**base, **kw})


ALERT = Alert(job="nightly-note", run="brave-fox", run_id="0000-1111", state="Failed",
              message="Flow run encountered an exception: ConnectionError: provider timed out", parameters={"today": "2026-08-04"})


def test_alert_by_webhook_and_email_each_once(tmp_path, smtp_sink, webhook):
    sink, port = smtp_sink
    s = _settings(tmp_path, alerts={"email_to": ["ops@desk.news", "oncall@desk.news"], "webhook_url": webhook.url},
                  delivery={"transport": "smtp", "from_addr": "Desk <desk@desk.news>", "smtp": {"host": "127.0.0.1", "port": port}})
    sent, problems = send_alert(ALERT, s)
    assert problems == [] and len(sent) == 2
    assert [m["To"] for m in sink.messages] == ["ops@desk.news, oncall@desk.news"] * 2  # one message, one envelope per operator
    msg = sink.messages[0]
    assert msg["Subject"] == "nightdesk: nightly-note Failed (today=2026-08-04)" and msg["From"] == "Desk <desk@desk.news>"
    assert "ConnectionError: provider timed out" in msg.get_content() and "brave-fox" in msg.get_content()
    (post,) = webhook.posts
    assert post["event"] == "nightdesk.failure" and post["job"] == "nightly-note" and post["parameters"] == {"today": "2026-08-04"}
    assert post["path"] == "/hooks/T0KEN" and post["content_type"] == "application/json"
    assert "T0KEN" not in " ".join(sent)  # the webhook's token is not logged


def test_a_dead_channel_is_reported_and_the_other_still_goes(tmp_path, webhook):
    s = _settings(tmp_path, alerts={"email_to": ["ops@desk.news"], "webhook_url": webhook.url, "timeout_s": 2},
                  delivery={"transport": "smtp", "smtp": {"host": "127.0.0.1", "port": closed_port()}})
    sent, problems = send_alert(ALERT, s)
    assert len(webhook.posts) == 1 and len(sent) == 1
    assert len(problems) == 1 and problems[0].startswith("alert email to ops@desk.news failed")


def test_alert_email_into_the_outbox_without_smtp(tmp_path):
    s = _settings(tmp_path, alerts={"email_to": ["ops@desk.news"], "outbox_dir": str(tmp_path / "alerts")})
    sent, problems = send_alert(ALERT, s)
    (eml,) = (tmp_path / "alerts").glob("*.eml")
    assert not problems and str(eml) in sent[0] and b"Subject: nightdesk: nightly-note Failed" in eml.read_bytes()
    assert (eml.stat().st_mode & 0o777) == 0o600


def test_webhook_url_is_a_secret_and_must_be_http(tmp_path):
    from pydantic import ValidationError

    s = _settings(tmp_path, alerts={"webhook_url": "https://hooks.chat.example/T/B/xyzSECRET"})
    assert "xyzSECRET" not in repr(s) and "xyzSECRET" not in s.model_dump_json()
    with pytest.raises(ValidationError, match="alerts.webhook_url"):
        _settings(tmp_path, alerts={"webhook_url": "ftp://x"})
    with pytest.raises(ValidationError, match="alerts.email_to"):
        _settings(tmp_path, alerts={"email_to": ["ops@desk.news\r\nBcc: x@y"]})


# --- real Prefect flow runs -----------------------------------------------------------------


@pytest.mark.slow
def test_dead_provider_fails_the_night_with_one_alert_email(tmp_path, prefect_harness, smtp_sink):
    from nightdesk.flows.nightly import nightly_note

    sink, port = smtp_sink
    s = _settings(tmp_path, alerts={"email_to": ["ops@desk.news"]},
                  delivery={"db_url": f"sqlite:///{tmp_path}/subs.db", "transport": "smtp", "from_addr": "desk@desk.news",
                            "smtp": {"host": "127.0.0.1", "port": port}})
    dead = DeadProvider()
    state = nightly_note(dead, s, dt.date(2025, 4, 9), return_state=True)
    assert state.is_failed() and "provider timed out" in state.message
    assert dead.calls == 3  # the first try and both retries of fetch: connection errors are retried
    (msg,) = sink.messages  # one alert for the night (not another for its regenerate-note subflow)
    assert msg["Subject"] == "nightdesk: nightly-note Failed (today=2025-04-09)" and msg["To"] == "ops@desk.news"
    assert "ConnectionError" in msg.get_content() and "provider timed out" in msg.get_content()
    assert not (tmp_path / "out" / "2025-04-09").exists()


@pytest.mark.slow
def test_a_bug_is_not_retried(tmp_path, prefect_harness):
    from nightdesk.flows.nightly import regenerate_note

    buggy = Buggy()
    state = regenerate_note(dt.date(2025, 4, 9), buggy, None, False, _settings(tmp_path), return_state=True)
    assert state.is_failed() and buggy.calls == 1  # KeyError: one attempt (it was retried three times before)


@pytest.mark.slow
def test_failed_delivery_fails_the_night_once(tmp_path, prefect_harness, webhook):
    """Published, then delivery refused (SMTP with placeholder addresses): the night is Failed,
    one webhook call (the deliver-note subflow does not alert on its own)."""
    from nightdesk.delivery.store import add_subscriber, connect
    from nightdesk.flows.nightly import nightly_note

    s = _settings(tmp_path, alerts={"webhook_url": webhook.url},
                  delivery={"db_url": f"sqlite:///{tmp_path}/subs.db", "transport": "smtp"})
    add_subscriber(connect(s.delivery.db_url), "ann@desk.news", name="Ann", language="en")
    state = nightly_note("sample", s, dt.date(2026, 2, 4), return_state=True)
    assert state.is_failed() and "delivery failed" in state.message and "refusing to send by SMTP" in state.message
    assert (tmp_path / "out" / "2026-02-04" / "note.en.pdf").exists()  # what was published stays published
    (post,) = webhook.wait_for(1, 5)
    assert post["job"] == "nightly-note" and post["state"] == "Failed" and post["parameters"]["today"] == "2026-02-04"


@pytest.mark.slow
def test_backfill_with_a_failed_date_is_failed_with_one_alert(tmp_path, prefect_harness, webhook):
    from prefect.task_runners import ThreadPoolTaskRunner

    from nightdesk.flows.backfill import backfill
    from nightdesk.rendering.publish import date_lock

    s = _settings(tmp_path, alerts={"webhook_url": webhook.url})
    s.output_dir.mkdir(parents=True)
    in_threads = backfill.with_options(task_runner=ThreadPoolTaskRunner(max_workers=1))  # the process pool: test_flows.py
    with date_lock(s.output_dir, "2026-02-04"):  # another run holds this date: it fails, the other is published
        state = in_threads(dt.date(2026, 2, 3), dt.date(2026, 2, 4), "sample", None, False, s, return_state=True)
    assert state.is_failed() and "1 of 2 dates failed" in state.message
    summary = state.result(raise_on_failure=False)
    assert summary["done"] == 1 and list(summary["failed"]) == ["2026-02-04"]
    assert (tmp_path / "out" / "2026-02-03" / "note.en.pdf").exists()
    (post,) = webhook.wait_for(1, 5)
    assert post["job"] == "backfill" and post["parameters"] == {"start": "2026-02-03", "end": "2026-02-04", "provider": "sample"}
    assert json.dumps(post).count("another run is publishing 2026-02-04") == 2  # message and text


@pytest.mark.slow
def test_the_night_delivers_and_a_rerun_sends_nothing_twice(tmp_path, prefect_harness):
    from nightdesk.delivery.store import add_subscriber, connect
    from nightdesk.flows.deliver import deliver_note
    from nightdesk.flows.nightly import nightly_note

    s = _settings(tmp_path, delivery={"db_url": f"sqlite:///{tmp_path}/subs.db", "transport": "outbox"})
    add_subscriber(connect(s.delivery.db_url), "ann@desk.news", name="Ann", language="en")
    night = nightly_note("sample", s, dt.date(2026, 2, 4))
    assert night["delivery"] == {"sent": 1, "already_sent": 0, "bounced": 0, "gave_up": 0}
    again = deliver_note(dt.date(2026, 2, 4), s)
    assert (again.sent, again.skipped_already_sent) == (0, 1)
    assert len([p for p in tmp_path.rglob("*.eml")]) == 1
    assert nightly_note("sample", s, dt.date(2026, 2, 16)) is None  # a holiday: skipped (the reason is logged)
