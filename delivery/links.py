"""The readers' URLs (archive, unsubscribe, preferences, confirmation) and the check that a real
send does not go out with placeholder addresses.

The web service (``nightdesk.web``) serves exactly these paths; emails and the archive build
their links here, so the two cannot drift apart.
"""
from __future__ import annotations

import email.utils
import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from nightdesk.delivery.message import SubscriberLinks
from nightdesk.delivery.store import Subscriber
from nightdesk.delivery.tokens import Tokens

UNSUBSCRIBE_PATH = "/u/"
PREFERENCES_PATH = "/p/"
CONFIRM_PATH = "/confirm/"
ARCHIVE_PATH = "/archive/"

PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
PLACEHOLDER_TLDS = ("example", "invalid", "test", "localhost", "local")


def note_url(base_url: str, date: str, lang: str) -> str:
    """The published note of ``date`` in ``lang`` on the archive site."""
    return f"{base_url}{ARCHIVE_PATH}{date}/note.{lang}.html"


def day_url(base_url: str, date: str, lang: str) -> str:
    """The archive page of ``date`` (every edition, HTML and PDF), its words in ``lang``."""
    return f"{base_url}/{lang}/{date}/"


@dataclass(frozen=True)
class ReaderLinks:
    """Builds each subscriber's signed links: the ``unsubscribe_url`` callable of
    :func:`nightdesk.delivery.send.deliver`."""

    base_url: str
    tokens: Tokens
    unsubscribe_mailto: str

    def __call__(self, sub: Subscriber) -> SubscriberLinks:
        signed = self.tokens.unsubscribe(sub.unsubscribe_token)
        return SubscriberLinks(
            unsubscribe_url=f"{self.base_url}{UNSUBSCRIBE_PATH}{signed}",
            preferences_url=f"{self.base_url}{PREFERENCES_PATH}{signed}",
            unsubscribe_mailto=f"mailto:{self.unsubscribe_mailto}?subject={quote('unsubscribe ' + signed)}",
        )

    def confirm_url(self, nonce: str, lang: str) -> str:
        """The double opt-in link of a pending sign-up (signed, timed), its page in ``lang``."""
        return f"{self.base_url}{CONFIRM_PATH}{self.tokens.confirmation(nonce)}?lang={lang}"


def is_placeholder_domain(domain: str) -> bool:
    """True for documentation and reserved names (RFC 2606/6761): example.com/.net/.org and
    anything under .example, .invalid, .test, .localhost, .local.

    >>> [is_placeholder_domain(d) for d in ("example.com", "mail.example.org", "nightdesk.invalid", "desk.news")]
    [True, True, True, False]
    """
    d = domain.strip().rstrip(".").lower()
    return d in PLACEHOLDER_DOMAINS or d.endswith(tuple("." + x for x in PLACEHOLDER_DOMAINS)) \
        or d.rpartition(".")[2] in PLACEHOLDER_TLDS


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sending_problems(*, from_addr: str, unsubscribe_mailto: str, base_url: str, base_url_set: bool = True) -> list[str]:
    """What stops a real (SMTP) send: placeholder sender or unsubscribe addresses, a placeholder
    site, a site that is not https (RFC 8058 one-click needs it; plain http only on loopback), or a
    site URL left at its default (``base_url_set`` False: every link would lead to 127.0.0.1)."""
    problems = []
    sender = email.utils.parseaddr(from_addr)[1]
    if is_placeholder_domain(sender.rpartition("@")[2]):
        problems.append(f"delivery.from_addr {from_addr!r}: {sender.rpartition('@')[2] or 'no domain'} is a placeholder; "
                        "set your own sending address")
    if is_placeholder_domain(unsubscribe_mailto.rpartition("@")[2]):
        problems.append(f"delivery.unsubscribe_mailto {unsubscribe_mailto!r}: a placeholder domain; set a mailbox you read")
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if not base_url_set:
        problems.append(f"web.base_url is not set (default {base_url!r}): set the public URL of `nightdesk web`, which the emails link to")
    elif is_placeholder_domain(host):
        problems.append(f"web.base_url {base_url!r}: {host} is a placeholder; set the public URL of `nightdesk web`")
    elif parts.scheme != "https" and not _loopback(host):
        problems.append(f"web.base_url {base_url!r}: must be https (one-click unsubscribe, RFC 8058)")
    return problems


def list_id(base_url: str) -> str:
    """The ``List-Id`` of the note's mailing (RFC 2919): a name and ``nightdesk.<site host>``.

    >>> list_id("https://desk.news")
    'Nightdesk US equity strategy <nightdesk.desk.news>'
    """
    from nightdesk.tables import site_text

    return f"{site_text('en')['list_name']} <nightdesk.{urlsplit(base_url).hostname}>"


def edition_summary(parts: list[dict], *, note_date: str, base_url: str | None) -> dict:
    """The email summary of one edition from one or more language summaries (two: the bilingual
    body); each part gains its "read online" link when the site's ``base_url`` is known.

    The top level is the first part (subject, page language) with the closing lines of every part.
    """
    from nightdesk.tables import site_text

    out = []
    for p in parts:
        words = site_text(p["lang"])
        extra = {"read_online_url": note_url(base_url, note_date, p["lang"]), "read_online_label": words["read_online"]} if base_url else {}
        out.append({**p, **extra})
    top = {**out[0], "parts": out}
    if len(out) > 1:
        top["attachment_line"] = " ".join(p["attachment_line"] for p in out)
        top["unsubscribe_label"] = " / ".join(p["unsubscribe_label"] for p in out)
    if base_url:
        top["preferences_label"] = " / ".join(site_text(p["lang"])["preferences_link"] for p in out)
        top["list_id"] = list_id(base_url)
    return top
