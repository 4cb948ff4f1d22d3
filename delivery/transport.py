"""Transports: SMTP (smtplib; STARTTLS/SSL, auth, connection reuse) and a file outbox (.eml)."""
from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path


class TransientSendError(RuntimeError):
    """Worth retrying: 4xx reply, dropped connection, timeout."""


class PermanentSendError(RuntimeError):
    """Not worth retrying: 5xx reply (bad mailbox, policy)."""


class OutboxTransport:
    """Writes each message to ``folder/<n>.eml`` (owner-only); the demo needs no mail server."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def send(self, msg: EmailMessage) -> None:
        name = msg["Message-ID"].strip("<>").replace("@", "_at_").replace("/", "_") + ".eml"
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(msg.as_bytes())

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

    def send(self, msg: EmailMessage) -> None:
        try:
            if self._conn is None:
                self._conn = self._open()
            refused = self._conn.send_message(msg)
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
        if refused:
            raise PermanentSendError(f"refused: {refused}")

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._conn = None
