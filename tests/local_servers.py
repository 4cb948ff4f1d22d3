"""Real local servers the tests talk to: a free TCP port on 127.0.0.1 and an aiosmtpd handler that keeps mail.

Imported by name (``from local_servers import ...``): ``tests/`` is on ``sys.path`` through its conftest.
"""
from __future__ import annotations

import email
import email.policy
import socket
import threading


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MailSink:
    """aiosmtpd handler keeping every message it accepts; a test waits on a condition, not on a clock."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()
        return "250 Message accepted"

    def to(self, address: str, subject_has: str = "") -> list[email.message.EmailMessage]:
        """The messages to ``address`` (any case) whose subject contains ``subject_has``."""
        return [m for m in self.messages if m["To"].addresses[0].addr_spec.lower() == address.lower() and subject_has in m["Subject"]]

    def wait_for(self, address: str, subject_has: str = "", timeout_s: float = 20.0) -> email.message.EmailMessage:
        """The latest such message, waiting up to ``timeout_s`` for one."""
        with self.cond:
            assert self.cond.wait_for(lambda: self.to(address, subject_has), timeout=timeout_s), f"no mail to {address}"
            return self.to(address, subject_has)[-1]
