"""Multipart email for one subscriber: short HTML + text summary, the PDF attached, RFC 8058 headers."""
from __future__ import annotations

import email.utils
from functools import lru_cache
from email.message import EmailMessage
from importlib import resources
from pathlib import Path

import jinja2

from delivery.store import Subscriber, clean_email, clean_name

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


def build_message(
    sub: Subscriber,
    summary: dict,
    pdf_path: Path,
    *,
    note_date: str,
    from_addr: str,
    unsubscribe_mailto: str,
    unsubscribe_url: str,
) -> EmailMessage:
    """The email for ``sub``.

    Parameters
    ----------
    summary : dict
        ``lang, date_label, title, headline, takeaways (list), disclaimer (2 lines)`` in the
        subscriber's language (bilingual subscribers get the English summary and both PDFs' bilingual file).
    """
    to_addr = clean_email(sub.email)
    name = clean_name(sub.name)
    domain = email.utils.parseaddr(from_addr)[1].split("@")[-1] or "nightdesk.invalid"
    msg = EmailMessage()
    msg["Subject"] = SUBJECT[summary["lang"]].format(date=note_date, headline=summary["title"].split("|")[-1].split("｜")[-1].strip())
    msg["From"] = from_addr
    msg["To"] = email.utils.formataddr((name, to_addr))
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message_id(note_date, sub.id, domain)
    link = f"{unsubscribe_url}?token={sub.unsubscribe_token}"
    msg["List-Unsubscribe"] = f"<mailto:{unsubscribe_mailto}?subject=unsubscribe%20{sub.unsubscribe_token}>, <{link}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    env = _env()
    msg.set_content(env.get_template("email.txt.j2").render(s=summary, unsubscribe=link))
    msg.add_alternative(env.get_template("email.html.j2").render(s=summary, unsubscribe=link), subtype="html")
    msg.add_attachment(pdf_path.read_bytes(), maintype="application", subtype="pdf", filename=f"nightdesk-{note_date}-{sub.language}.pdf")
    return msg
