"""Subscribers and the send ledger in a real database (SQLite file by default, any SQLAlchemy URL)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from nightdesk.delivery import suppression

LANGUAGES = ("en", "zh-Hant", "zh-Hans", "bilingual")
STATUSES = ("active", "unsubscribed", "bounced")

metadata = sa.MetaData()
subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("created_utc", sa.DateTime, nullable=False),
    sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True),
)
send_ledger = sa.Table(
    "send_ledger",
    metadata,
    sa.Column("note_date", sa.String(10), primary_key=True),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), primary_key=True),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_utc", sa.DateTime, nullable=False),
)


class SubscriberError(ValueError):
    """Invalid subscriber data; the message names the field and value."""


class SuppressedError(SubscriberError):
    """The address unsubscribed or bounced: only ``reactivate=True`` (an operator's flag) adds it again."""


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    language: str
    status: str
    unsubscribe_token: str


def connect(url: str) -> sa.Engine:
    """Open (and create) the database; a SQLite file is created owner-only (0600)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch(mode=0o600)
        os.chmod(path, 0o600)
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # WAL: commits survive a crashed process without an fsync each
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    metadata.create_all(engine)
    suppression.create_tables(engine)
    return engine


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def clean_email(email: str) -> str:
    """Validated, normalised address; rejects CR/LF and anything RFC 5322 does not allow."""
    if any(c in email for c in "\r\n\0"):
        raise SubscriberError(f"email {email!r}: contains a line break")
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SubscriberError(f"email {email!r}: {exc}") from None


def clean_name(name: str) -> str:
    """A display name without control characters (no header injection)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SubscriberError(f"name {name!r}: contains control characters")
    return name.strip()[:200]


def add_subscriber(engine: sa.Engine, email: str, *, name: str = "", language: str = "en", reactivate: bool = False) -> Subscriber:
    """Add a subscriber, or update one; an address on the suppression list (or unsubscribed or
    bounced) raises :class:`SuppressedError` unless ``reactivate`` (which lifts the suppression)."""
    email, name = clean_email(email), clean_name(name)
    if language not in LANGUAGES:
        raise SubscriberError(f"language {language!r}: choose one of {', '.join(LANGUAGES)}")
    with engine.begin() as conn:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.email == email)).first()
        listed = suppression.lookup(conn, email)
        if not reactivate and (listed or (row is not None and row.status in ("unsubscribed", "bounced"))):
            why = listed.reason if listed else row.status
            raise SuppressedError(f"email {email!r}: {why}, on the suppression list; re-activate only with --reactivate "
                                  "(the reader's own new request) or a new double opt-in")
        if reactivate:
            suppression.lift(conn, email)
        if row is None:
            conn.execute(subscribers.insert().values(email=email, name=name, language=language, status="active",
                                                     created_utc=_now(), unsubscribe_token=secrets.token_urlsafe(24)))
        else:
            conn.execute(subscribers.update().where(subscribers.c.email == email).values(name=name, language=language, status="active"))
        row = conn.execute(sa.select(subscribers).where(subscribers.c.email == email)).one()
    return Subscriber(row.id, row.email, row.name, row.language, row.status, row.unsubscribe_token)


def set_status(engine: sa.Engine, email: str, status: str, *, source: str = "delivery") -> bool:
    """Mark a subscriber unsubscribed / bounced / active; False if unknown. Unsubscribed and
    bounced addresses also go on the suppression list (``source`` says who put them there)."""
    with engine.begin() as conn:
        res = conn.execute(subscribers.update().where(subscribers.c.email == clean_email(email)).values(status=status))
        if res.rowcount and status in ("unsubscribed", "bounced"):
            suppression.suppress(conn, clean_email(email), reason=status, source=source)
    return res.rowcount > 0


def list_subscribers(engine: sa.Engine, *, status: str | None = None) -> list[Subscriber]:
    """All subscribers (optionally of one status), by id."""
    q = sa.select(subscribers).order_by(subscribers.c.id)
    if status:
        q = q.where(subscribers.c.status == status)
    with engine.connect() as conn:
        return [Subscriber(r.id, r.email, r.name, r.language, r.status, r.unsubscribe_token) for r in conn.execute(q)]


def import_csv(engine: sa.Engine, text: str, *, reactivate: bool = False) -> tuple[int, list[str]]:
    """Import ``email,name,language`` rows; returns (imported, problems naming the line).
    Suppressed addresses are problems unless ``reactivate``."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "email" not in reader.fieldnames:
        return 0, ["header: needs at least an 'email' column (email,name,language)"]
    seen, ok, problems = set(), 0, []
    for line, row in enumerate(reader, start=2):
        email = (row.get("email") or "").strip()
        try:
            norm = clean_email(email)
            if norm in seen:
                raise SubscriberError(f"email {email!r}: duplicate in file")
            seen.add(norm)
            add_subscriber(engine, norm, name=row.get("name") or "", language=(row.get("language") or "en").strip(), reactivate=reactivate)
            ok += 1
        except SubscriberError as exc:
            problems.append(f"line {line}: {exc}")
    return ok, problems


def export_csv(engine: sa.Engine) -> str:
    """All subscribers as CSV."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["email", "name", "language", "status"])
    for s in list_subscribers(engine):
        w.writerow([s.email, s.name, s.language, s.status])
    return out.getvalue()
