"""Transports: SMTP (smtplib; STARTTLS/SSL, auth, connection reuse) and a file outbox (.eml).

Both take a ``commit`` callback that runs after the whole message has been handed over but
before it becomes final (the SMTP terminating ``.``, the outbox's rename). The send loop
records "committing" in the ledger there, so a process killed at any moment either left the
message incomplete (the server discards it; the ledger says it was not handed over) or had
already recorded that it was (see :mod:`nightdesk.delivery.send` for the guarantee).

Failures come in four kinds, by whose fault they are:

* :class:`TransientSendError`: 4xx, dropped connection, timeout in a transaction: retry.
* :class:`RecipientRefused`: the recipient's own 5xx at RCPT (bad mailbox): bounce them.
* :class:`MessageRefused`: this message cannot go (5xx to DATA or its content; a non-ASCII
  mailbox the server cannot take): not sent, nobody bounced.
* :class:`TransportFailure`: the run cannot go on (server down, TLS, login, the sender
  refused): abort, marking nobody.
"""
from __future__ import annotations

import errno
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from nightdesk.delivery.message import Outgoing


class SendError(RuntimeError):
    """A message was not sent; ``str()`` is one line."""


class TransientSendError(SendError):
    """Worth retrying: 4xx reply, dropped connection, timeout."""


class PermanentSendError(SendError):
    """Not worth retrying this message."""


class RecipientRefused(PermanentSendError):
    """The recipient's own mailbox was refused (5xx at RCPT): the subscriber bounces."""


class MessageRefused(PermanentSendError):
    """This message cannot be sent through this server; the subscriber is not to blame."""


class TransportFailure(SendError):
    """Nothing can be sent: connection, TLS, login or sender refused. ``connect`` marks a
    failure to reach the server at all (a reconnect after a drop may be retried)."""

    def __init__(self, message: str, *, connect: bool = False):
        super().__init__(message)
        self.connect = connect


Commit = Callable[[], None]


def _no_commit() -> None:
    return None


def _reply(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}"


_ENHANCED = re.compile(rb"^\s*([245])\.(\d{1,3})\.\d{1,3}")


def _policy_or_auth(code: int, resp: bytes) -> bool:
    """5xx that concern the sender or the session, not a mailbox: 530/535/538 or enhanced 5.7.x."""
    m = _ENHANCED.match(resp if isinstance(resp, bytes) else str(resp).encode())
    return code in (530, 535, 538) or bool(m and m.group(2) == b"7")


def _send_raw(conn: smtplib.SMTP, msg: Outgoing, where: str, commit: Commit) -> None:
    """MAIL / RCPT / DATA for one message whose bytes are already CRLF-terminated.

    ``smtplib.SMTP.sendmail`` runs two regular expressions over the whole message (line-end
    fixing and dot-stuffing): about 2.5 ms for a 320 KB message, the largest cost per
    subscriber. Our messages are built with CRLF line ends, so only dot-stuffing can be
    needed, and a byte search shows when it is. ``commit`` runs between the body and the
    terminating ``.``; if it raises, the connection is dropped and the server discards the
    message.
    """
    conn.ehlo_or_helo_if_needed()
    options: list[str] = []
    if msg.smtputf8:
        if not conn.has_extn("smtputf8"):
            raise MessageRefused(f"{msg.rcpt_to} has a non-ASCII mailbox name, and {where} does not offer SMTPUTF8")
        options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if conn.has_extn("8bitmime") else [])
    try:
        code, resp = conn.mail(msg.mail_from, options)
        if code != 250:
            conn.rset()
            if 400 <= code < 500:
                raise TransientSendError(f"sender deferred: {_reply(code, resp)}")
            raise TransportFailure(f"{where} refused the sender {msg.mail_from}: {_reply(code, resp)}")
        code, resp = conn.rcpt(msg.rcpt_to)
        if code not in (250, 251):
            conn.rset()
            if 400 <= code < 500:
                raise TransientSendError(f"recipient deferred: {_reply(code, resp)}")
            if _policy_or_auth(code, resp):
                raise TransportFailure(f"{where} refused to relay for {msg.mail_from}: {_reply(code, resp)}")
            if code in (550, 551, 553):
                raise RecipientRefused(f"recipient refused: {_reply(code, resp)}")
            raise MessageRefused(f"recipient not accepted: {_reply(code, resp)}")
        code, resp = conn.docmd("data")
        if code != 354:
            conn.rset()
            if 400 <= code < 500:
                raise TransientSendError(f"DATA deferred: {_reply(code, resp)}")
            if _policy_or_auth(code, resp):
                raise TransportFailure(f"{where} refused DATA: {_reply(code, resp)}")
            raise MessageRefused(f"DATA refused: {_reply(code, resp)}")
        data = msg.data if not (msg.data.startswith(b".") or b"\n." in msg.data) else re.sub(rb"(?m)^\.", b"..", msg.data)
        conn.send(data if data.endswith(b"\r\n") else data + b"\r\n")
        try:
            commit()
        except BaseException:
            conn.close()  # no terminating dot: the server discards the message
            raise
        conn.send(b".\r\n")
        code, resp = conn.getreply()
    finally:
        conn.command_encoding = "ascii"
    if code != 250:
        if 400 <= code < 500:
            raise TransientSendError(f"message deferred: {_reply(code, resp)}")
        raise MessageRefused(f"message refused: {_reply(code, resp)}")


class OutboxTransport:
    """Writes each message to ``folder/<message id>.eml`` (owner-only); the demo needs no mail server.

    The file is written under a temporary name and renamed after ``commit``: a file with the
    final name is always a whole message.
    """

    ever_connected = True

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)

    def send(self, msg: Outgoing, commit: Commit = _no_commit) -> None:
        name = msg.message_id.strip("<>").replace("@", "_at_").replace("/", "_") + ".eml"
        path, tmp = self.folder / name, self.folder / f".tmp-{os.getpid()}-{name}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(msg.data)
        except OSError as exc:
            raise TransportFailure(f"outbox {self.folder}: cannot write {name}: {exc.strerror}") from None
        try:
            commit()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)

    def close(self) -> None:
        pass


def _connect_reason(exc: BaseException, connect_timeout_s: float) -> str:
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer within {connect_timeout_s:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, smtplib.SMTPConnectError):
        return f"greeting {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if "timed out" in str(exc):
            return f"connected, but no SMTP greeting within {connect_timeout_s:g} s"
        return "the server closed the connection before its greeting"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return exc.strerror or str(exc)
    return f"{exc.__class__.__name__}: {exc}"


class SmtpTransport:
    """One reused SMTP connection, reopened after a drop. Passwords are never logged."""

    def __init__(self, host: str, port: int, *, security: str = "none", username: str | None = None,
                 password: str | None = None, timeout_s: float = 30.0, connect_timeout_s: float = 5.0):
        self.host, self.port, self.security = host, port, security
        self.username, self._password, self.timeout_s, self.connect_timeout_s = username, password, timeout_s, connect_timeout_s
        self._conn: smtplib.SMTP | None = None
        self.ever_connected = False

    def __repr__(self) -> str:
        return f"SmtpTransport({self.host}:{self.port}, security={self.security}, user={self.username!r}, password=***)"

    @property
    def where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    def _open(self) -> smtplib.SMTP:
        """Connect (bounded by ``connect_timeout_s``), STARTTLS, log in; :class:`TransportFailure` naming the step."""
        try:
            if self.security == "ssl":
                conn = smtplib.SMTP_SSL(timeout=self.connect_timeout_s, context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(timeout=self.connect_timeout_s)
            conn.connect(self.host, self.port)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportFailure(f"cannot connect to {self.where}: {_connect_reason(exc, self.connect_timeout_s)}", connect=True) from None
        try:
            conn.sock.settimeout(self.timeout_s)
            conn.timeout = self.timeout_s
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise TransportFailure(f"{self.where} does not offer STARTTLS (delivery.smtp.security = 'starttls')")
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if self.username:
                conn.login(self.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            raise TransportFailure(f"{self.where} refused the login of {self.username!r}: {_reply(exc.smtp_code, exc.smtp_error)}; "
                                   "check delivery.smtp.username and NIGHTDESK_DELIVERY__SMTP__PASSWORD") from None
        except smtplib.SMTPNotSupportedError:
            conn.close()
            raise TransportFailure(f"{self.where} does not offer AUTH, but delivery.smtp.username is set") from None
        except smtplib.SMTPResponseException as exc:
            conn.close()
            raise TransportFailure(f"{self.where} refused the session: {_reply(exc.smtp_code, exc.smtp_error)}") from None
        except TransportFailure:
            conn.close()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            raise TransportFailure(f"{self.where}: session setup failed: {_connect_reason(exc, self.timeout_s)}", connect=True) from None
        self.ever_connected = True
        return conn

    @classmethod
    def from_settings(cls, smtp) -> "SmtpTransport":
        """The transport ``delivery.smtp`` (:class:`nightdesk.settings.SmtpSettings`) describes."""
        return cls(smtp.host, smtp.port, security=smtp.security, username=smtp.username,
                   password=smtp.password.get_secret_value() if smtp.password else None, timeout_s=smtp.timeout_s,
                   connect_timeout_s=smtp.connect_timeout_s)

    def check(self, mail_from: str) -> None:
        """Connect, log in and offer ``mail_from`` (then RSET and QUIT): what would stop every
        message, found before a run starts. :class:`TransportFailure` with one line."""
        conn = self._open()
        try:
            code, resp = conn.mail(mail_from)
            if code >= 500:
                raise TransportFailure(f"{self.where} refused the sender {mail_from}: {_reply(code, resp)}")
            conn.rset()
            conn.quit()
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportFailure(f"{self.where}: {_connect_reason(exc, self.timeout_s)}", connect=True) from None
        finally:
            conn.close()

    def send(self, msg: Outgoing, commit: Commit = _no_commit) -> None:
        """Send ``msg``; ``commit`` runs before the terminating dot (see the module docstring)."""
        if self._conn is None:
            self._conn = self._open()
        try:
            _send_raw(self._conn, msg, self.where, commit)
        except (TransientSendError, PermanentSendError):
            raise
        except TransportFailure:
            self.close()
            raise
        except smtplib.SMTPResponseException as exc:
            self.close()
            if 500 <= exc.smtp_code < 600:
                raise MessageRefused(_reply(exc.smtp_code, exc.smtp_error)) from None
            raise TransientSendError(_reply(exc.smtp_code, exc.smtp_error)) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._conn = None
            raise TransientSendError(f"connection lost: {exc.__class__.__name__}: {exc}") from None
        except BaseException:
            self._conn = None  # the commit refused (or the process is stopping): the connection was dropped
            raise

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._conn = None
