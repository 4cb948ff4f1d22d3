"""Transports: SMTP (smtplib; STARTTLS/SSL, auth, connection reuse) and a file outbox (.eml)."""
from __future__ import annotations

import os
import re
import smtplib
import ssl
from pathlib import Path

from nightdesk.delivery.message import Outgoing


class TransientSendError(RuntimeError):
    """Worth retrying: 4xx reply, dropped connection, timeout."""


class PermanentSendError(RuntimeError):
    """Not worth retrying: 5xx reply (bad mailbox, policy)."""


def _send_raw(conn: smtplib.SMTP, msg: Outgoing) -> None:
    """MAIL / RCPT / DATA for one message whose bytes are already CRLF-terminated.

    ``smtplib.SMTP.sendmail`` runs two regular expressions over the whole message (line-end
    fixing and dot-stuffing): about 2.5 ms for a 320 KB message, the largest cost per
    subscriber. Our messages are built with CRLF line ends, so only dot-stuffing can be
    needed, and a byte search shows when it is.
    """
    conn.ehlo_or_helo_if_needed()
    code, resp = conn.mail(msg.mail_from)
    if code != 250:
        conn.rset()
        raise smtplib.SMTPSenderRefused(code, resp, msg.mail_from)
    code, resp = conn.rcpt(msg.rcpt_to)
    if code not in (250, 251):
        conn.rset()
        raise smtplib.SMTPRecipientsRefused({msg.rcpt_to: (code, resp)})
    code, resp = conn.docmd("data")
    if code != 354:
        conn.rset()
        raise smtplib.SMTPDataError(code, resp)
    data = msg.data if not (msg.data.startswith(b".") or b"\n." in msg.data) else re.sub(rb"(?m)^\.", b"..", msg.data)
    conn.send(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    code, resp = conn.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, resp)


class OutboxTransport:
    """Writes each message to ``folder/<n>.eml`` (owner-only); the demo needs no mail server."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def send(self, msg: Outgoing) -> None:
        name = msg.message_id.strip("<>").replace("@", "_at_").replace("/", "_") + ".eml"
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(msg.data)

    def close(self) -> None:
        pass


class SmtpTransport:
    """One reused SMTP connection, reopened after a drop. Passwords are never logged."""

    def __init__(self, host: str, port: int, *, security: str = "none", username: str | None = None,
                 password: str | None = None, timeout_s: float = 30.0):
        self.host, self.port, self.security = host, port, security
        self.username, self._password, self.timeout_s = username, password, timeout_s
        self._conn: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        return f"SmtpTransport({self.host}:{self.port}, security={self.security}, user={self.username!r}, password=***)"

    def _open(self) -> smtplib.SMTP:
        if self.security == "ssl":
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            if self.security == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if self.username:
            conn.login(self.username, self._password or "")
        return conn

    def send(self, msg: Outgoing) -> None:
        try:
            if self._conn is None:
                self._conn = self._open()
            _send_raw(self._conn, msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            self.close()
            if all(500 <= c < 600 for c in codes):
                raise PermanentSendError(f"recipient refused: {codes}") from None
            raise TransientSendError(f"recipient deferred: {codes}") from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            if 500 <= exc.smtp_code < 600:
                raise PermanentSendError(f"{exc.smtp_code} {exc.smtp_error!r}") from None
            raise TransientSendError(f"{exc.smtp_code} {exc.smtp_error!r}") from None
        except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError, OSError) as exc:
            self._conn = None
            raise TransientSendError(f"connection: {exc.__class__.__name__}: {exc}") from None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._conn = None
