"""Double opt-in and the readers' own changes: pending sign-ups, consent records, unsubscribe
and edition changes by token, and the confirmation email.

Tables of their own (created by :func:`create_tables`), beside the subscribers table:

* ``pending_signups``: one row per confirmation mail sent (random nonce, address, edition,
  language, source, requested at). A confirmation link carries only the signed nonce.
* ``consent_records``: one row per confirmed sign-up (address, edition, language, source,
  requested at, confirmed at, method). Never deleted by an unsubscribe: it is the evidence.
"""
from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import secrets
from dataclasses import dataclass
from email.message import EmailMessage

import sqlalchemy as sa

from nightdesk.delivery import suppression
from nightdesk.delivery.message import Outgoing, _env, sender_domain
from nightdesk.delivery.store import (
    LANGUAGES, Subscriber, SubscriberError, add_subscriber, clean_email, clean_name, set_status, subscribers,
)
from nightdesk.tables import site_text

PAGE_LANGS = ("en", "zh-Hant", "zh-Hans")

metadata = sa.MetaData()
pending_signups = sa.Table(
    "pending_signups",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("edition", sa.String(16), nullable=False),  # the subscriber's language setting: en, zh-Hant, zh-Hans, bilingual
    sa.Column("language", sa.String(16), nullable=False),  # the page's language (of the confirmation mail)
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("requested_utc", sa.DateTime, nullable=False),
)
consent_records = sa.Table(
    "consent_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("edition", sa.String(16), nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),  # double-opt-in
    sa.Column("requested_utc", sa.DateTime, nullable=False),
    sa.Column("confirmed_utc", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class ConsentRecord:
    email: str
    edition: str
    language: str
    source: str
    method: str
    requested_utc: dt.datetime
    confirmed_utc: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def create_tables(engine: sa.Engine) -> None:
    """Create the pending-signup, consent and suppression tables if missing (idempotent)."""
    metadata.create_all(engine)
    suppression.create_tables(engine)


def request_signup(engine: sa.Engine, email: str, *, name: str = "", edition: str, language: str, source: str,
                   per_day_limit: int, max_age_s: int, now: dt.datetime | None = None) -> str | None:
    """Record a sign-up waiting for confirmation; returns its nonce, or None when ``email`` was
    already sent ``per_day_limit`` confirmation mails in the past 24 h (the caller answers the
    same either way: no account enumeration).

    Raises :class:`SubscriberError` for a malformed address or name, or an unknown edition.
    Pending rows older than ``max_age_s`` are removed on the way.
    """
    email, name = clean_email(email), clean_name(name)
    if edition not in LANGUAGES:
        raise SubscriberError(f"edition {edition!r}: choose one of {', '.join(LANGUAGES)}")
    if language not in PAGE_LANGS:
        raise SubscriberError(f"language {language!r}: choose one of {', '.join(PAGE_LANGS)}")
    now = now or _now()
    key = suppression.email_key(email)
    with engine.begin() as conn:
        conn.execute(pending_signups.delete().where(pending_signups.c.requested_utc < now - dt.timedelta(seconds=max_age_s)))
        recent = conn.execute(sa.select(sa.func.count()).select_from(pending_signups).where(
            sa.func.lower(pending_signups.c.email) == key, pending_signups.c.requested_utc >= now - dt.timedelta(days=1))).scalar_one()
        if recent >= per_day_limit:
            return None
        nonce = secrets.token_urlsafe(24)
        conn.execute(pending_signups.insert().values(nonce=nonce, email=email, name=name, edition=edition, language=language,
                                                     source=source[:64], requested_utc=now))
    return nonce


@dataclass(frozen=True)
class PendingSignup:
    nonce: str
    email: str
    name: str
    edition: str
    language: str
    source: str
    requested_utc: dt.datetime


def pending(engine: sa.Engine, nonce: str) -> PendingSignup | None:
    """The pending sign-up of ``nonce`` (None if unknown, used, or purged)."""
    with engine.connect() as conn:
        r = conn.execute(sa.select(pending_signups).where(pending_signups.c.nonce == nonce)).first()
    return None if r is None else PendingSignup(r.nonce, r.email, r.name, r.edition, r.language, r.source, r.requested_utc)


def confirm_signup(engine: sa.Engine, nonce: str, *, max_age_s: int, now: dt.datetime | None = None) -> Subscriber | None:
    """Activate the pending sign-up of ``nonce``: the subscriber is added (or re-activated: a
    confirmed double opt-in lifts a suppression), the consent recorded, and every pending link of
    that address used up. None when the nonce is unknown, used or older than ``max_age_s``."""
    now = now or _now()
    p = pending(engine, nonce)
    if p is None or p.requested_utc < now - dt.timedelta(seconds=max_age_s):
        return None
    sub = add_subscriber(engine, p.email, name=p.name, language=p.edition, reactivate=True)
    with engine.begin() as conn:
        conn.execute(consent_records.insert().values(email=sub.email, edition=p.edition, language=p.language, source=p.source,
                                                     method="double-opt-in", requested_utc=p.requested_utc, confirmed_utc=now))
        conn.execute(pending_signups.delete().where(sa.func.lower(pending_signups.c.email) == suppression.email_key(p.email)))
    return sub


def consents(engine: sa.Engine, email: str) -> list[ConsentRecord]:
    """Every recorded consent of ``email`` (case-insensitive), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(consent_records).where(sa.func.lower(consent_records.c.email) == suppression.email_key(email))
                            .order_by(consent_records.c.id))
        return [ConsentRecord(r.email, r.edition, r.language, r.source, r.method, r.requested_utc, r.confirmed_utc) for r in rows]


def _row_to_subscriber(r) -> Subscriber:
    return Subscriber(r.id, r.email, r.name, r.language, r.status, r.unsubscribe_token)


def subscriber_by_token(engine: sa.Engine, db_token: str) -> Subscriber | None:
    """The subscriber whose database unsubscribe token is ``db_token`` (already signature-checked)."""
    with engine.connect() as conn:
        r = conn.execute(sa.select(subscribers).where(subscribers.c.unsubscribe_token == db_token)).first()
    return None if r is None else _row_to_subscriber(r)


def unsubscribe_by_token(engine: sa.Engine, db_token: str, *, source: str) -> Subscriber | None:
    """Unsubscribe (and suppress) the subscriber of ``db_token`` at once; None if no such subscriber.
    Idempotent: a second request changes nothing."""
    sub = subscriber_by_token(engine, db_token)
    if sub is None:
        return None
    if sub.status != "unsubscribed":
        set_status(engine, sub.email, "unsubscribed", source=source)
    return subscriber_by_token(engine, db_token)


def set_edition_by_token(engine: sa.Engine, db_token: str, edition: str) -> Subscriber | None:
    """Change the edition (language setting) of the subscriber of ``db_token``; None if unknown."""
    if edition not in LANGUAGES:
        raise SubscriberError(f"edition {edition!r}: choose one of {', '.join(LANGUAGES)}")
    with engine.begin() as conn:
        conn.execute(subscribers.update().where(subscribers.c.unsubscribe_token == db_token).values(language=edition))
    return subscriber_by_token(engine, db_token)


def confirmation_message(p: PendingSignup, *, confirm_url: str, from_addr: str, hours: int) -> Outgoing:
    """The double opt-in email (plain text, in the language of the page the reader used)."""
    words = site_text(p.language)
    edition = words[f"edition_{p.edition}"]
    body = _env().get_template("email.confirm.txt.j2").render(
        greeting=words["confirm_greeting"].format(name=p.name) if p.name else words["confirm_greeting_anon"],
        body=words["confirm_mail_body"].format(edition=edition, hours=hours), link=confirm_url, ignore=words["confirm_mail_ignore"],
        site=words["site_name"])
    from_name, from_email = email.utils.parseaddr(from_addr)
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = words["confirm_subject"]
    msg["From"] = email.utils.formataddr((from_name, from_email), charset="utf-8")
    msg["To"] = email.utils.formataddr((clean_name(p.name), clean_email(p.email)), charset="utf-8")
    msg["Date"] = email.utils.formatdate(localtime=False)
    mid = f"<nightdesk.confirm.{secrets.token_hex(12)}@{sender_domain(from_addr)}>"
    msg["Message-ID"] = mid
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body, cte="base64" if not body.isascii() else "quoted-printable")
    return Outgoing(mail_from=from_email, rcpt_to=clean_email(p.email), message_id=mid, data=msg.as_bytes())
