"""Operator alerts: one email and/or one webhook call when a scheduled job fails.

Channels come from ``settings.alerts``: ``email_to`` goes through the delivery transport (SMTP
with ``delivery.smtp`` and ``delivery.from_addr``, or an ``.eml`` file in ``alerts.outbox_dir``
with the outbox transport), ``webhook_url`` is POSTed a JSON object. Each channel is tried on its
own; a channel that fails is reported back, never raised: an alert must not hide the failure it
reports.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path

from nightdesk.delivery.message import Outgoing
from nightdesk.delivery.transport import SmtpTransport
from nightdesk.settings import Settings


@dataclass(frozen=True)
class Alert:
    """What failed, in words an operator acts on."""

    job: str
    """The flow that failed, e.g. ``nightly-note``."""
    run: str
    """The flow run's name."""
    run_id: str
    state: str
    """``Failed`` or ``Crashed``."""
    message: str
    """The state's message: the first line says what went wrong."""
    parameters: dict[str, str] = field(default_factory=dict)
    """The run's plain parameters (dates, provider), as text."""
    url: str | None = None
    """The run's page in the Prefect UI, when there is one."""
    host: str = field(default_factory=socket.gethostname)
    at_utc: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def subject(self) -> str:
        """One line: ``nightdesk: nightly-note Failed (today=2026-08-04)``."""
        params = ", ".join(f"{k}={v}" for k, v in self.parameters.items())
        return f"nightdesk: {self.job} {self.state}" + (f" ({params})" if params else "")

    def text(self) -> str:
        """The plain-text body."""
        lines = [self.subject, "", self.message or "(no message)", "", f"flow run: {self.run} ({self.run_id})"]
        if self.url:
            lines.append(f"details: {self.url}")
        lines += [f"host: {self.host}", f"time (UTC): {self.at_utc}", "", "See docs/operations.md for what to do."]
        return "\n".join(lines) + "\n"

    def payload(self) -> dict:
        """The webhook's JSON object (``text`` is one line, for chat webhooks)."""
        return {"event": "nightdesk.failure", "text": f"{self.subject}: {self.message.splitlines()[0] if self.message else ''}",
                **asdict(self)}


def alert_email(alert: Alert, *, from_addr: str, to: list[str]) -> EmailMessage:
    """The alert as an email from ``from_addr`` to the operators."""
    msg = EmailMessage()
    msg["Subject"] = alert.subject
    msg["From"] = from_addr
    msg["To"] = ", ".join(to)
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain="nightdesk.alerts")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(alert.text())
    return msg


def send_email(alert: Alert, settings: Settings) -> str:
    """Email the operators through the configured transport; returns where it went."""
    d, to = settings.delivery, settings.alerts.email_to
    msg = alert_email(alert, from_addr=d.from_addr, to=to)
    data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    if d.transport == "outbox":
        folder = Path(settings.alerts.outbox_dir)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{alert.at_utc.replace(':', '')}-{alert.run_id}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return str(path)
    s = d.smtp
    transport = SmtpTransport.from_settings(s)
    sender = email.utils.parseaddr(d.from_addr)[1]
    try:
        for rcpt in to:
            transport.send(Outgoing(mail_from=sender, rcpt_to=rcpt, message_id=msg["Message-ID"], data=data))
    finally:
        transport.close()
    return f"{', '.join(to)} via {s.host}:{s.port}"


def post_webhook(alert: Alert, url: str, timeout_s: float) -> str:
    """POST the alert's JSON to ``url``; returns the HTTP status. Raises on anything but 2xx."""
    req = urllib.request.Request(url, data=json.dumps(alert.payload()).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "nightdesk-alerts"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return f"webhook HTTP {resp.status}"


def send_alert(alert: Alert, settings: Settings) -> tuple[list[str], list[str]]:
    """Every configured channel, each on its own: ``(sent, problems)``, one line each.

    No channel configured gives ``([], [])``.
    """
    sent, problems = [], []
    a = settings.alerts
    if a.email_to:
        try:
            sent.append(f"email to {send_email(alert, settings)}")
        except Exception as exc:  # noqa: BLE001 - reported, the other channel still goes
            problems.append(f"alert email to {', '.join(a.email_to)} failed: {exc.__class__.__name__}: {exc}")
    if a.webhook_url is not None:
        url = a.webhook_url.get_secret_value()
        where = url.split("?", 1)[0].rsplit("/", 1)[0] + "/…"  # the path's last part and the query may hold a token
        try:
            sent.append(f"{post_webhook(alert, url, a.timeout_s)} ({where})")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problems.append(f"alert webhook {where} failed: {getattr(exc, 'reason', None) or exc}")
    return sent, problems
