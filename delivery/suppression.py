"""The suppression list: addresses that unsubscribed or bounced, which no import or add re-activates.

Kept apart from the subscribers table (its own table, keyed by the lower-cased address), so
it survives a subscriber row being deleted or re-imported, and records why and when. Only an
operator's explicit ``--reactivate`` or a new double opt-in lifts an entry.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

REASONS = ("unsubscribed", "bounced", "complaint")

metadata = sa.MetaData()
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("email_key", sa.String(320), primary_key=True),  # lower-cased normalised address
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),  # e.g. web:one-click, web:page, cli:remove, smtp:5xx
    sa.Column("created_utc", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class Suppression:
    email_key: str
    reason: str
    source: str
    created_utc: dt.datetime


def email_key(email: str) -> str:
    """The key of an address on the list: case-insensitive (``Ann@X.org`` and ``ann@x.org`` are one)."""
    return email.strip().lower()


def create_tables(engine: sa.Engine) -> None:
    """Create the table if it is missing (idempotent)."""
    metadata.create_all(engine)


def suppress(conn: sa.Connection, email: str, *, reason: str, source: str) -> None:
    """Put ``email`` on the list (or update why); the first date it was listed is kept."""
    if reason not in REASONS:
        raise ValueError(f"reason {reason!r}: choose one of {', '.join(REASONS)}")
    key = email_key(email)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if conn.execute(sa.select(suppressions.c.email_key).where(suppressions.c.email_key == key)).first() is None:
        conn.execute(suppressions.insert().values(email_key=key, reason=reason, source=source[:64], created_utc=now))
    else:
        conn.execute(suppressions.update().where(suppressions.c.email_key == key).values(reason=reason, source=source[:64]))


def lookup(conn: sa.Connection, email: str) -> Suppression | None:
    """The entry for ``email``, or None."""
    row = conn.execute(sa.select(suppressions).where(suppressions.c.email_key == email_key(email))).first()
    return None if row is None else Suppression(row.email_key, row.reason, row.source, row.created_utc)


def lift(conn: sa.Connection, email: str) -> bool:
    """Remove ``email`` from the list (an operator's --reactivate or a new double opt-in); False if absent."""
    return conn.execute(suppressions.delete().where(suppressions.c.email_key == email_key(email))).rowcount > 0


def list_suppressed(conn: sa.Connection) -> list[Suppression]:
    """Every entry, oldest first."""
    rows = conn.execute(sa.select(suppressions).order_by(suppressions.c.created_utc, suppressions.c.email_key))
    return [Suppression(r.email_key, r.reason, r.source, r.created_utc) for r in rows]
