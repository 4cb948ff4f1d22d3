"""The mailto side of ``List-Unsubscribe``: requests in a maildir, mapped to subscribers by their
signed token (``Subject: unsubscribe <token>``, as the header's mailto URI writes it)."""
from __future__ import annotations

import email.header
import mailbox
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from nightdesk.delivery import consent
from nightdesk.delivery.tokens import TokenError, Tokens

_SUBJECT = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", re.IGNORECASE)


class MailtoError(RuntimeError):
    """The maildir cannot be read."""


@dataclass
class MailtoReport:
    unsubscribed: int = 0
    already: int = 0
    invalid: int = 0


def token_from_subject(subject: str) -> str | None:
    """The signed token in an unsubscribe request's subject (``Re:`` and encoded words allowed).

    >>> token_from_subject("Re: unsubscribe abc.DEF_-1"), token_from_subject("hello")
    ('abc.DEF_-1', None)
    """
    text = str(email.header.make_header(email.header.decode_header(subject or "")))
    m = _SUBJECT.search(text)
    return m.group(1) if m else None


def process_maildir(engine: sa.Engine, folder: Path, tokens: Tokens) -> MailtoReport:
    """Unsubscribe the sender of every unread request with a valid token; each message is then
    marked seen, so a second run does nothing twice. A request without a valid token changes
    nothing (the From address alone proves nothing)."""
    folder = Path(folder)
    if not (folder / "cur").is_dir() or not (folder / "new").is_dir():
        raise MailtoError(f"{folder}: not a maildir (needs cur/ and new/)")
    box = mailbox.Maildir(folder, factory=None, create=False)
    report = MailtoReport()
    for key in list(box.keys()):
        msg = box[key]
        if "S" in msg.get_flags():
            continue
        token = token_from_subject(msg.get("Subject", ""))
        sub = None
        if token:
            try:
                sub = consent.subscriber_by_token(engine, tokens.read_unsubscribe(token))
            except TokenError:
                sub = None
        if sub is None:
            report.invalid += 1
        elif sub.status == "unsubscribed":
            report.already += 1
        else:
            consent.unsubscribe_by_token(engine, sub.unsubscribe_token, source="mailto")
            report.unsubscribed += 1
        msg.set_subdir("cur")
        msg.add_flag("S")
        box[key] = msg
    return report
