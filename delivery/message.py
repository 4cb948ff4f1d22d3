"""Multipart email for one subscriber: short HTML + text summary, the PDF attached, RFC 8058 headers."""
from __future__ import annotations

import base64
import email.utils
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import escape

from nightdesk.delivery.store import Subscriber, clean_name, smtp_address
from nightdesk.mail_headers import check_address, check_from_addr, check_url, single_line

SUBJECT = {
    "en": "US Equity Strategy | {date}: {headline}",
    "zh-Hant": "美股策略｜{date}：{headline}",
    "zh-Hans": "美股策略｜{date}：{headline}",
}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("nightdesk.templates", ""), autoescape=jinja2.select_autoescape(["html.j2"]),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def sender_domain(from_addr: str) -> str:
    """Domain of the From address (``Name <user@host>`` or ``user@host``), for Message-IDs."""
    return email.utils.parseaddr(from_addr)[1].rpartition("@")[2] or "nightdesk.invalid"


def message_id(note_date: str, subscriber_id: int, domain: str) -> str:
    """Deterministic Message-ID: a resend after a crash carries the same id (clients dedupe)."""
    return f"<nightdesk.{note_date}.{subscriber_id}@{domain}>"


@dataclass(frozen=True)
class Outgoing:
    """One message ready for a transport: envelope and the exact bytes (CRLF line ends)."""

    mail_from: str
    rcpt_to: str
    message_id: str
    data: bytes
    smtputf8: bool = False
    """True when the recipient's mailbox name is not ASCII: the server must offer SMTPUTF8."""


UNSUBSCRIBE_SLOT = "NIGHTDESK-UNSUBSCRIBE-LINK"
"""Stands for the subscriber's own unsubscribe link in the bodies rendered once per edition."""
PREFERENCES_SLOT = "NIGHTDESK-PREFERENCES-LINK"
"""Stands for the subscriber's own language/edition link."""


@dataclass(frozen=True)
class SubscriberLinks:
    """One subscriber's signed links (:class:`nightdesk.delivery.links.ReaderLinks` makes them)."""

    unsubscribe_url: str
    preferences_url: str
    unsubscribe_mailto: str  # the whole mailto: URI


@dataclass(frozen=True)
class MailTemplate:
    """What every subscriber of one edition shares: subject, both bodies (with the link slot)
    and the PDF already encoded as a MIME part."""

    subject: str
    text: str
    html: str
    attachment: bytes
    list_id: str = ""


def _b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def mail_template(summary: dict, pdf: bytes | Path, *, note_date: str, language: str) -> MailTemplate:
    """Render the edition's email once (Jinja bodies, subject, base64 PDF part).

    Parameters
    ----------
    summary : dict
        ``lang, date_label, title, headline, takeaways (list), disclaimer (2 lines)`` in the
        subscriber's language. Optional: ``parts`` (one such dict per language: the bilingual
        body), ``read_online_url`` and ``read_online_label`` (each part), ``preferences_label``,
        ``list_id`` (the ``List-Id`` header).
    pdf : bytes or Path
        The PDF (bytes already checked against the manifest, or a file to read).
    language : str
        The subscribers' language setting (names the attached file).
    """
    env = _env()
    filename = f"nightdesk-{note_date}-{language}.pdf"
    part = (f'Content-Type: application/pdf; name="{filename}"\r\nContent-Transfer-Encoding: base64\r\n'
            f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n').encode()
    return MailTemplate(
        subject=SUBJECT[summary["lang"]].format(date=note_date, headline=summary["title"].split("|")[-1].split("｜")[-1].strip()),
        text=env.get_template("email.txt.j2").render(s=summary, parts=summary.get("parts") or [summary], unsubscribe=UNSUBSCRIBE_SLOT,
                                                      preferences=PREFERENCES_SLOT),
        html=env.get_template("email.html.j2").render(s=summary, parts=summary.get("parts") or [summary], unsubscribe=UNSUBSCRIBE_SLOT,
                                                      preferences=PREFERENCES_SLOT),
        attachment=part + _b64_lines(pdf if isinstance(pdf, bytes) else Path(pdf).read_bytes()),
        list_id=summary.get("list_id", ""),
    )


def _header(name: str, value: str, *, utf8: bool = False) -> bytes:
    """One header line; non-ASCII values as RFC 2047 encoded words, folded (raw UTF-8 when
    ``utf8``, for an SMTPUTF8 address: RFC 6532). A line break in a value is refused."""
    single_line(f"header {name}", value)
    if value.isascii() or utf8:
        return f"{name}: {value}\r\n".encode()
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=chr(13) + chr(10))}\r\n".encode()


def _to_value(name: str, addr: str) -> str:
    """``Name <addr>`` with the name encoded on its own; a UTF-8 address stays raw (RFC 6532)."""
    if addr.isascii():
        return email.utils.formataddr((name, addr), charset="utf-8")
    return email.utils.formataddr((name, "x@x.invalid"), charset="utf-8").replace("x@x.invalid", addr)  # formataddr refuses non-ASCII addresses


def build_message(
    sub: Subscriber,
    template: MailTemplate,
    *,
    note_date: str,
    from_addr: str,
    unsubscribe_mailto: str,
    unsubscribe_url: str | Callable[[Subscriber], SubscriberLinks],
) -> Outgoing:
    """The email for ``sub``: multipart/mixed of (text + HTML alternatives) and the PDF.

    ``unsubscribe_url`` is either a plain URL (the link is ``<url>?token=<db token>``, unsigned)
    or a callable giving the subscriber's signed links (then ``unsubscribe_mailto`` is unused).

    Only the headers and the unsubscribe link differ between subscribers, so the message is
    assembled from the edition's :class:`MailTemplate` without the ``email`` package's
    per-message parsing and encoding (that took ~35 ms a message with a 300 KB PDF).
    """
    check_from_addr("delivery.from_addr", from_addr)
    to_addr, utf8 = smtp_address(sub.email)
    name = clean_name(sub.name)
    from_name, from_email = email.utils.parseaddr(from_addr)
    mid = message_id(note_date, sub.id, sender_domain(from_addr))
    if callable(unsubscribe_url):
        links = unsubscribe_url(sub)
    else:
        check_address("delivery.unsubscribe_mailto", unsubscribe_mailto)
        check_url("delivery.unsubscribe_url", unsubscribe_url)
        plain = f"{unsubscribe_url}{'&' if '?' in unsubscribe_url else '?'}token={sub.unsubscribe_token}"
        links = SubscriberLinks(plain, plain, f"mailto:{unsubscribe_mailto}?subject=unsubscribe%20{sub.unsubscribe_token}")
    link = links.unsubscribe_url
    mixed, alt = f"=_nd_m_{secrets.token_hex(10)}", f"=_nd_a_{secrets.token_hex(10)}"
    head = b"".join([
        _header("Subject", template.subject),
        _header("From", email.utils.formataddr((from_name, from_email), charset="utf-8")),  # encodes the name, never the address
        _header("To", _to_value(name, to_addr), utf8=utf8),
        _header("Date", email.utils.formatdate(localtime=False)),
        _header("Message-ID", mid),
        _header("List-Unsubscribe", f"<{links.unsubscribe_mailto}>, <{link}>"),
        _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        _header("List-Id", template.list_id) if template.list_id else b"",
        b"MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n\r\n'.encode(),
    ])
    text = (template.text.replace(UNSUBSCRIBE_SLOT, link).replace(PREFERENCES_SLOT, links.preferences_url)
            .replace("\r\n", "\n").replace("\n", "\r\n"))
    html = template.html.replace(UNSUBSCRIBE_SLOT, str(escape(link))).replace(PREFERENCES_SLOT, str(escape(links.preferences_url)))
    body = b"".join([
        f"--{mixed}\r\nContent-Type: multipart/alternative; boundary=\"{alt}\"\r\n\r\n".encode(),
        f'--{alt}\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode(),
        _b64_lines(text.encode()),
        f'--{alt}\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode(),
        _b64_lines(html.encode()),
        f"--{alt}--\r\n\r\n--{mixed}\r\n".encode(),
        template.attachment,
        f"\r\n--{mixed}--\r\n".encode(),
    ])
    return Outgoing(mail_from=from_email, rcpt_to=to_addr, message_id=mid, data=head + body, smtputf8=utf8)
