"""A real local SMTP server (aiosmtpd on 127.0.0.1) with switchable faults, and CLI helpers."""
from __future__ import annotations

import asyncio
import logging
import warnings
import email
import email.policy
import shutil
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from local_servers import free_port as _free_port

DATE = "2026-02-04"
SMTP_SEND = {"NIGHTDESK_DELIVERY__FROM_ADDR": "Desk <desk@desk.news>", "NIGHTDESK_DELIVERY__UNSUBSCRIBE_MAILTO": "unsubscribe@desk.news",
             "NIGHTDESK_WEB__BASE_URL": "http://127.0.0.1:8080", "NIGHTDESK_WEB__SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop"}
"""What an SMTP send needs besides the server (readers-web refuses placeholder addresses and unsigned links)."""
# The test server takes AUTH without TLS on purpose; its warning would land in the CLI's stderr.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Recorder:
    """SMTP handler that keeps what it accepted. Faults: drop the connection after N messages,
    refuse one recipient (550), refuse every sender (``reject_mail``), call ``on_data(n)`` in
    the server's thread after accepting message n, hold the first message until ``gate``
    sessions have named a recipient."""

    def __init__(self, drop_after: int | None = None, reject: str | None = None, reject_mail: str | None = None,
                 on_data=None, gate: int = 0):
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []
        self.rcpts: list[str] = []
        self.mail_options: list[list[str]] = []
        self.drop_after, self.reject, self.reject_mail, self.on_data = drop_after, reject, reject_mail, on_data
        self.gate, self.sessions = gate, set()
        self._opened: asyncio.Event | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.reject_mail:
            return self.reject_mail
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and address == self.reject:
            return "550 5.1.1 mailbox unavailable"
        self.sessions.add(id(session))  # a session that sends (the CLI's check before a run only says MAIL FROM)
        if self._opened is None:
            self._opened = asyncio.Event()
        if len(self.sessions) >= self.gate:
            self._opened.set()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.drop_after is not None and len(self.messages) >= self.drop_after:
            self.drop_after = None  # drop once
            server.transport.close()
            return "421 closing"
        if self.gate and self._opened is not None:
            try:
                await asyncio.wait_for(self._opened.wait(), 30)
            except asyncio.TimeoutError:
                pass
        self.raw.append(envelope.content)
        self.mail_options.append(list(envelope.mail_options))
        self.rcpts.extend(envelope.rcpt_tos)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        if self.on_data is not None:
            self.on_data(len(self.messages))
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]

    def to(self) -> list[str]:
        return sorted(self.rcpts)


@pytest.fixture
def free_port():
    """A function: a TCP port on 127.0.0.1 that nothing listens on."""
    return _free_port


@pytest.fixture
def smtp():
    """``start(**Recorder options, auth=(user, password), smtputf8=False) -> (handler, port)``."""
    servers = []

    def start(auth: tuple[str, str] | None = None, smtputf8: bool = False, **kw):
        handler = Recorder(**kw)
        extra = {}
        if auth:
            def authenticator(server, session, envelope, mechanism, data):
                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == auth
                return AuthResult(success=ok, handled=False)
            extra = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
        ctl = Controller(handler, hostname="127.0.0.1", port=_free_port(), enable_SMTPUTF8=smtputf8, **extra)
        ctl.start()
        servers.append(ctl)
        return handler, ctl.port

    yield start
    for ctl in servers:
        ctl.stop()


@pytest.fixture
def note_copy(published, tmp_path):
    """A private copy of the published 2026-02-04 note (``output_dir``, ``folder``) to damage."""
    out, _ = published
    dst = tmp_path / "output"
    shutil.copytree(out / DATE, dst / DATE)
    return dst, dst / DATE


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run the real CLI in-process (a test that delivers also asks for ``prefect_harness``, so
    the flow runs against the session's Prefect test server).

    ``cli.env(output_dir=..., port=..., **NIGHTDESK_*)`` configures it; ``cli(args...)``
    returns ``(exit_code, stdout, stderr, seconds)``.
    """
    from typer.testing import CliRunner

    from nightdesk.cli import app

    class Cli:
        db = tmp_path / "private" / "subs.db"

        def env(self, output_dir=None, port=None, **extra):
            monkeypatch.setenv("NIGHTDESK_DELIVERY__DB_URL", f"sqlite:///{self.db}")
            monkeypatch.setenv("NIGHTDESK_DELIVERY__RATE_PER_S", "1000")
            if output_dir is not None:
                monkeypatch.setenv("NIGHTDESK_OUTPUT_DIR", str(output_dir))
            if port is not None:  # a real send: signed links to a site, and no placeholder addresses
                monkeypatch.setenv("NIGHTDESK_DELIVERY__TRANSPORT", "smtp")
                monkeypatch.setenv("NIGHTDESK_DELIVERY__SMTP__HOST", "127.0.0.1")
                monkeypatch.setenv("NIGHTDESK_DELIVERY__SMTP__PORT", str(port))
                for key, value in SMTP_SEND.items():
                    monkeypatch.setenv(key, value)
            for key, value in extra.items():
                monkeypatch.setenv(f"NIGHTDESK_{key.upper()}", str(value))

        def __call__(self, *args: str):
            t0 = time.perf_counter()
            res = CliRunner().invoke(app, list(args))
            if res.exception and not isinstance(res.exception, SystemExit):
                raise res.exception
            return res.exit_code, res.stdout, res.stderr, time.perf_counter() - t0

    return Cli()


@pytest.fixture
def lock_db():
    """A function ``(path, hold_s)``: hold an exclusive lock on the SQLite file ``path`` for
    ``hold_s`` in a thread; returns once the lock is held."""
    return _lock_db


def _lock_db(path, hold_s: float) -> threading.Event:
    import sqlite3

    held = threading.Event()

    def run():
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(hold_s)
        conn.execute("COMMIT")
        conn.close()

    threading.Thread(target=run, daemon=True).start()
    held.wait(30)
    return held
