"""Multipart email for one subscriber: short HTML + text summary, the PDF attached, RFC 8058 headers."""
from __future__ import annotations

import email.utils
import secrets
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2

from delivery.store import Subscriber, clean_email, clean_name

SMTP7 = SMTP.clone(cte_type="7bit")  # CRLF, RFC 2047 headers, 7-bit bodies: safe through any relay

SUBJECT = {
    "en": "US Equity Strategy | {date}: {headline}",
    "zh-Hant": "美股策略｜{date}：{headline}",
    "zh-Hans": "美股策略｜{date}：{headline}",
}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("templates", ""), autoescape=jinja2.select_autoescape(["html.j2"]),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


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


@lru_cache(maxsize=8)
def attachment_part(pdf_path: Path, filename: str, mtime_ns: int) -> bytes:
    """The PDF as a base64 MIME part, encoded once per file and reused for every subscriber.

    ``mtime_ns`` is part of the cache key so a re-rendered PDF is encoded afresh.
    """
    part = MIMEPart(policy=SMTP7)
    part.set_content(pdf_path.read_bytes(), maintype="application", subtype="pdf", filename=filename)
    return part.as_bytes()


def build_message(
    sub: Subscriber,
    summary: dict,
    pdf_path: Path,
    *,
    note_date: str,
    from_addr: str,
    unsubscribe_mailto: str,
    unsubscribe_url: str,
) -> Outgoing:
    """The email for ``sub``: multipart/mixed of (text + HTML alternatives) and the PDF.

    Headers and the two short bodies are made per subscriber by the ``email`` package (they
    carry the subscriber's name and unsubscribe token); the PDF part is encoded once and
    spliced in, which keeps a 10,000-subscriber run from re-encoding 300 KB each time.

    Parameters
    ----------
    summary : dict
        ``lang, date_label, title, headline, takeaways (list), disclaimer (2 lines)`` in the
        subscriber's language (bilingual subscribers get the English summary and the bilingual PDF).
    """
    to_addr = clean_email(sub.email)
    name = clean_name(sub.name)
    domain = email.utils.parseaddr(from_addr)[1].split("@")[-1] or "nightdesk.invalid"
    mid = message_id(note_date, sub.id, domain)
    link = f"{unsubscribe_url}?token={sub.unsubscribe_token}"
    head = EmailMessage(policy=SMTP7)
    head["Subject"] = SUBJECT[summary["lang"]].format(date=note_date, headline=summary["title"].split("|")[-1].split("｜")[-1].strip())
    head["From"] = from_addr
    head["To"] = email.utils.formataddr((name, to_addr))
    head["Date"] = email.utils.formatdate(localtime=False)
    head["Message-ID"] = mid
    head["List-Unsubscribe"] = f"<mailto:{unsubscribe_mailto}?subject=unsubscribe%20{sub.unsubscribe_token}>, <{link}>"
    head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    head["MIME-Version"] = "1.0"
    boundary = f"=_nightdesk_{secrets.token_hex(12)}"
    head["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
    env = _env()
    body = MIMEPart(policy=SMTP7)
    body.set_content(env.get_template("email.txt.j2").render(s=summary, unsubscribe=link))
    body.add_alternative(env.get_template("email.html.j2").render(s=summary, unsubscribe=link), subtype="html")
    pdf = attachment_part(pdf_path, f"nightdesk-{note_date}-{sub.language}.pdf", pdf_path.stat().st_mtime_ns)
    b = boundary.encode()
    headers = b"".join(SMTP7.fold_binary(k, v) for k, v in head.items()) + b"\r\n"
    data = b"".join([headers, b"--", b, b"\r\n", body.as_bytes(), b"\r\n--", b, b"\r\n", pdf, b"\r\n--", b, b"--\r\n"])
    return Outgoing(mail_from=email.utils.parseaddr(from_addr)[1], rcpt_to=to_addr, message_id=mid, data=data)
