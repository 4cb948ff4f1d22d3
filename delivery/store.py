"""Subscribers and the send ledger in a real database (SQLite file by default, any SQLAlchemy URL).

The schema is versioned: :data:`MIGRATIONS` is the one ordered list of steps that brings any
earlier database (including one made before versioning, which counts as version 1) to
:data:`SCHEMA_VERSION`; :func:`connect` runs the missing steps in one transaction.

SQLite specifics: WAL journal, every write transaction starts with ``BEGIN IMMEDIATE`` (it
takes the write lock first, so it waits on a busy database instead of failing half-way), and
the driver waits up to ``lock_wait_s`` for a lock; :func:`retry_locked` retries a whole
transaction when the lock outlasts a single wait.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from nightdesk.delivery import suppression

LANGUAGES = ("en", "zh-Hant", "zh-Hans", "bilingual")
STATUSES = ("active", "unsubscribed", "bounced")
MERGED = "merged"
"""Status of a row folded into an earlier one by migration 2 (same address in another case)."""

metadata = sa.MetaData()
subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # as given: what the message is sent to
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("created_utc", sa.DateTime, nullable=False),
    sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True),
    sa.Column("email_key", sa.String(320), nullable=True),  # casefolded local part @ IDNA domain; unique (index)
)
send_ledger = sa.Table(
    "send_ledger",
    metadata,
    sa.Column("note_date", sa.String(10), primary_key=True),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), primary_key=True),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sending | committing | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_utc", sa.DateTime, nullable=False),
    sa.Column("claim_owner", sa.String(200), nullable=True),  # host:pid:start of the run sending it
    sa.Column("claim_expires_utc", sa.DateTime, nullable=True),  # the claim's lease
)
schema_table = sa.Table("nightdesk_schema", metadata, sa.Column("version", sa.Integer, nullable=False))


class SubscriberError(ValueError):
    """Invalid subscriber data; the message names the field and value."""


class SuppressedError(SubscriberError):
    """The address unsubscribed or bounced: only ``reactivate=True`` (an operator's flag) adds it again."""


class StoreError(RuntimeError):
    """The subscriber database cannot be used (locked, read-only, newer schema); one line."""


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    language: str
    status: str
    unsubscribe_token: str


# --------------------------------------------------------------------------- schema migrations


def _v1_tables() -> sa.MetaData:
    """The schema as the first release created it (frozen: migration 1 builds exactly this)."""
    md = sa.MetaData()
    sa.Table("subscribers", md,
             sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("email", sa.String(320), nullable=False, unique=True),
             sa.Column("name", sa.String(200), nullable=False),
             sa.Column("language", sa.String(16), nullable=False),
             sa.Column("status", sa.String(16), nullable=False),
             sa.Column("created_utc", sa.DateTime, nullable=False),
             sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True))
    sa.Table("send_ledger", md,
             sa.Column("note_date", sa.String(10), primary_key=True),
             sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), primary_key=True),
             sa.Column("message_id", sa.String(200), nullable=False),
             sa.Column("status", sa.String(16), nullable=False),
             sa.Column("attempts", sa.Integer, nullable=False),
             sa.Column("last_error", sa.Text, nullable=True),
             sa.Column("updated_utc", sa.DateTime, nullable=False))
    return md


def _m1_initial(conn: sa.Connection) -> None:
    """Subscribers and the send ledger as first released."""
    _v1_tables().create_all(conn)


def _m2_case_key_and_claims(conn: sa.Connection) -> None:
    """A case-insensitive address key (unique) and the ledger's claim owner and lease.

    Rows whose addresses differ only in case are folded into the earliest (lowest id): it keeps
    the most restrictive status of the group (unsubscribed > bounced > active), the later rows
    become status ``merged`` with no key (kept, as the ledger refers to them).
    """
    def add(table: str, column: str, type_: sa.types.TypeEngine) -> None:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {type_.compile(dialect=conn.dialect)}")

    add("subscribers", "email_key", sa.String(320))
    add("send_ledger", "claim_owner", sa.String(200))
    add("send_ledger", "claim_expires_utc", sa.DateTime())
    rows = conn.execute(sa.text("SELECT id, email, status FROM subscribers ORDER BY id")).all()
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(email_key(r.email), []).append(r)
    rank = {"unsubscribed": 2, "bounced": 1}
    for key, group in groups.items():
        keep, rest = group[0], group[1:]
        status = max((r.status for r in group), key=lambda s: rank.get(s, 0))
        conn.execute(sa.text("UPDATE subscribers SET email_key = :k, status = :s WHERE id = :i"), {"k": key, "s": status, "i": keep.id})
        for r in rest:
            conn.execute(sa.text("UPDATE subscribers SET status = :s WHERE id = :i"), {"s": MERGED, "i": r.id})
    conn.exec_driver_sql("CREATE UNIQUE INDEX ix_subscribers_email_key ON subscribers (email_key)")


def _m3_suppression_list(conn: sa.Connection) -> None:
    """The suppression list (:mod:`nightdesk.delivery.suppression`); a database that a release
    without schema versions gave the table already keeps it."""
    suppression.metadata.create_all(conn, checkfirst=True)


Migration = tuple[int, str, Callable[[sa.Connection], None]]
MIGRATIONS: list[Migration] = [
    (1, "subscribers and send ledger", _m1_initial),
    (2, "case-insensitive address key; ledger claims with a lease", _m2_case_key_and_claims),
    (3, "suppression list", _m3_suppression_list),
]
"""Ordered schema steps; append ``(n, what, fn(conn))`` to extend (a new module's tables too)."""
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: sa.Connection) -> int:
    """Version of the database behind ``conn``: 0 empty, 1 made before versioning, else as recorded."""
    names = set(sa.inspect(conn).get_table_names())
    if schema_table.name in names:
        return int(conn.execute(sa.select(schema_table.c.version)).scalar_one())
    return 1 if "subscribers" in names else 0


def migrate(engine: sa.Engine) -> int:
    """Bring the database to :data:`SCHEMA_VERSION` (one transaction); returns the version it had."""
    with write_tx(engine) as conn:
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise StoreError(f"subscriber database {engine.url.render_as_string(hide_password=True)} has schema version {found}, "
                             f"newer than this nightdesk's {SCHEMA_VERSION}: upgrade nightdesk")
        for version, _what, step in MIGRATIONS:
            if version > found:
                step(conn)
        if found < SCHEMA_VERSION:
            if found < 2:  # the version table itself arrived with version 2
                schema_table.create(conn)
                conn.execute(schema_table.insert().values(version=SCHEMA_VERSION))
            else:
                conn.execute(schema_table.update().values(version=SCHEMA_VERSION))
    return found


# --------------------------------------------------------------------------- connecting, locks

T = TypeVar("T")


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    return None


def describe_db_error(url: str, exc: BaseException) -> str:
    """One line for a database failure: which database, and what is wrong with it."""
    path = _sqlite_path(url)
    where = path or sa.make_url(url).render_as_string(hide_password=True)
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    if isinstance(exc, OSError):
        text = exc.strerror or text
    low = text.lower()
    if path is not None and _read_only_fs(path):
        return f"subscriber database {where} is on a read-only file system; give a writable delivery.db_url"
    if "locked" in low or "busy" in low:
        return f"subscriber database {where} is locked by another process; try again when it is done"
    if "readonly" in low or "read-only" in low:
        return f"subscriber database {where} is read-only ({text}); give a writable delivery.db_url"
    if "unable to open" in low:
        return f"subscriber database {where} cannot be opened ({text}); check the folder exists and is writable"
    return f"subscriber database {where}: {text}"


def _read_only_fs(path: Path) -> bool:
    """True when the file system holding ``path`` (or its nearest existing folder) is mounted read-only."""
    for folder in [path, *path.parents]:
        try:
            return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            continue
    return False


def is_locked_error(exc: BaseException) -> bool:
    """True for SQLite's 'database is locked' / 'busy' (worth waiting for)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return isinstance(exc, sa.exc.OperationalError) and ("locked" in text or "busy" in text)


def retry_locked(fn: Callable[[], T], *, wait_s: float, what: str, url: str) -> T:
    """Run ``fn`` (one whole transaction) again while the database stays locked, up to ``wait_s``.

    Raises :class:`StoreError` (one line naming the database and ``what`` was being written)
    once the lock outlasts ``wait_s``.
    """
    deadline, delay_s = time.monotonic() + wait_s, 0.05
    while True:
        try:
            return fn()
        except sa.exc.OperationalError as exc:
            if not is_locked_error(exc) or time.monotonic() >= deadline:
                if is_locked_error(exc):
                    raise StoreError(f"{describe_db_error(url, exc)} (waited {wait_s:.0f} s to record {what})") from None
                raise
        time.sleep(min(delay_s, max(0.0, deadline - time.monotonic())))
        delay_s = min(delay_s * 2, 1.0)


@contextmanager
def write_tx(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction; on SQLite it starts with ``BEGIN IMMEDIATE`` (takes the write lock first)."""
    with engine.connect() as conn:
        conn.execution_options(nightdesk_write=True)
        with conn.begin():
            yield conn


def connect(url: str, *, lock_wait_s: float = 30.0) -> sa.Engine:
    """Open (create, migrate) the database; a SQLite file is created owner-only (0600).

    Raises :class:`StoreError` with one line when the file cannot be created or opened, is
    read-only, stays locked for ``lock_wait_s``, or has a newer schema.
    """
    path = _sqlite_path(url)
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.touch(mode=0o600)
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
    except OSError as exc:
        raise StoreError(describe_db_error(url, exc)) from None
    engine = sa.create_engine(url, connect_args={"timeout": lock_wait_s} if path is not None else {})
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # WAL: commits survive a crashed process without an fsync each
            dbapi_conn.isolation_level = None  # SQLAlchemy's documented recipe: we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("nightdesk_write") else "BEGIN")

    try:
        retry_locked(lambda: migrate(engine), wait_s=lock_wait_s, what="the schema", url=url)
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise StoreError(describe_db_error(url, exc)) from None
    except StoreError:
        engine.dispose()
        raise
    return engine


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------- addresses


def _validated(email: str):
    if any(c in email for c in "\r\n\0"):
        raise SubscriberError(f"email {email!r}: contains a line break")
    try:
        return validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"email {email!r}: {exc}") from None


def clean_email(email: str) -> str:
    """Validated, normalised address (case of the local part kept); rejects CR/LF and anything RFC 5322 does not allow."""
    return _validated(email).normalized


def email_key(email: str) -> str:
    """The address's identity: local part casefolded, domain in IDNA ASCII form, lower case.

    ``Alice@X.com``, ``alice@x.com`` and ``ALICE@x.com`` share one key, as do
    ``user@münchen.de`` and ``user@xn--mnchen-3ya.de``.
    """
    try:
        v = _validated(email)
        return f"{v.local_part.casefold()}@{v.ascii_domain.lower()}"
    except SubscriberError:  # only in migrating a row an older version accepted: keep it distinct
        return email.strip().casefold()


def smtp_address(email: str) -> tuple[str, bool]:
    """The address as the SMTP envelope and To header carry it, and whether it needs SMTPUTF8.

    The domain is always IDNA-encoded (``user@xn--mnchen-3ya.de``); only a non-ASCII local part
    (``用户@例子.广告``) needs the server's SMTPUTF8 extension (RFC 6531).
    """
    v = _validated(email)
    if v.local_part.isascii():
        return f"{v.local_part}@{v.ascii_domain}", False
    return v.normalized, True


def clean_name(name: str) -> str:
    """A display name without control characters (no header injection)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SubscriberError(f"name {name!r}: contains control characters")
    return name.strip()[:200]


def _row(r) -> Subscriber:
    return Subscriber(r.id, r.email, r.name, r.language, r.status, r.unsubscribe_token)


# --------------------------------------------------------------------------- subscribers


def add_subscriber(engine: sa.Engine, email: str, *, name: str | None = None, language: str | None = None,
                   reactivate: bool = False, lock_wait_s: float = 30.0) -> Subscriber:
    """Add a subscriber, or update one (the same address in any letter case).

    Only what is given changes: re-adding ``ALICE@x.com`` without ``name``/``language`` keeps
    the stored name, language and spelling of the address. New subscribers default to ``en``.
    An address on the suppression list (or unsubscribed or bounced) raises
    :class:`SuppressedError` unless ``reactivate`` (which lifts the suppression).
    """
    addr = clean_email(email)
    key = email_key(addr)
    name = None if name is None else clean_name(name)
    if language is not None and language not in LANGUAGES:
        raise SubscriberError(f"language {language!r}: choose one of {', '.join(LANGUAGES)}")

    def write() -> Subscriber:
        with write_tx(engine) as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.email_key == key)).first()
            listed = suppression.lookup(conn, addr) or (suppression.lookup(conn, row.email) if row is not None else None)
            if not reactivate and (listed or (row is not None and row.status in ("unsubscribed", "bounced"))):
                why = listed.reason if listed else row.status
                raise SuppressedError(f"email {addr!r}: {why}, on the suppression list; re-activate only with --reactivate "
                                      "(the reader's own new request) or a new double opt-in")
            if reactivate:
                suppression.lift(conn, addr)
                if row is not None:
                    suppression.lift(conn, row.email)
            if row is None:
                conn.execute(subscribers.insert().values(email=addr, email_key=key, name=name or "", language=language or "en",
                                                         status="active", created_utc=_now(), unsubscribe_token=secrets.token_urlsafe(24)))
            else:
                changes = {"status": "active"}
                if name is not None:
                    changes["name"] = name
                if language is not None:
                    changes["language"] = language
                conn.execute(subscribers.update().where(subscribers.c.id == row.id).values(**changes))
            return _row(conn.execute(sa.select(subscribers).where(subscribers.c.email_key == key)).one())

    return retry_locked(write, wait_s=lock_wait_s, what=f"subscriber {addr}", url=str(engine.url))


def set_status(engine: sa.Engine, email: str, status: str, *, source: str = "delivery") -> bool:
    """Mark a subscriber unsubscribed / bounced / active (address in any case); False if unknown.
    Unsubscribed and bounced addresses also go on the suppression list (``source`` says who put them there)."""
    if status not in STATUSES:
        raise SubscriberError(f"status {status!r}: choose one of {', '.join(STATUSES)}")
    with write_tx(engine) as conn:
        row = conn.execute(sa.select(subscribers.c.id, subscribers.c.email).where(subscribers.c.email_key == email_key(clean_email(email)))).first()
        if row is None:
            return False
        set_status_by_id(conn, row.id, status, email=row.email, source=source)
    return True


def set_status_by_id(conn: sa.Connection, subscriber_id: int, status: str, *, email: str, source: str) -> None:
    """Inside a caller's transaction: one subscriber's status (and the suppression list)."""
    conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id).values(status=status))
    if status in ("unsubscribed", "bounced"):
        suppression.suppress(conn, email, reason=status, source=source)


def list_subscribers(engine: sa.Engine, *, status: str | None = None) -> list[Subscriber]:
    """All subscribers (optionally of one status), by id; rows merged by migration are left out."""
    if status is not None and status not in STATUSES:
        raise SubscriberError(f"status {status!r}: choose one of {', '.join(STATUSES)}")
    q = sa.select(subscribers).where(subscribers.c.status != MERGED).order_by(subscribers.c.id)
    if status:
        q = q.where(subscribers.c.status == status)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(q)]


def decode_csv(data: bytes, source: str) -> str:
    """CSV bytes as text: UTF-8 with or without a byte-order mark; anything else is one clear error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubscriberError(f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                              "save the file as UTF-8 (CSV UTF-8) and import again") from None


def import_csv(engine: sa.Engine, text: str, *, reactivate: bool = False) -> tuple[int, list[str]]:
    """Import ``email,name,language`` rows; returns (imported, problems naming the line).

    Empty ``name``/``language`` cells leave an existing subscriber's values as they are.
    Suppressed addresses are problems unless ``reactivate``.
    """
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    if not reader.fieldnames or "email" not in [f.strip() for f in reader.fieldnames]:
        return 0, ["header: needs at least an 'email' column (email,name,language)"]
    reader.fieldnames = [f.strip() for f in reader.fieldnames]
    seen, ok, problems = set(), 0, []
    for line, row in enumerate(reader, start=2):
        email = (row.get("email") or "").strip()
        try:
            norm = clean_email(email)
            if email_key(norm) in seen:
                raise SubscriberError(f"email {email!r}: duplicate in file")
            seen.add(email_key(norm))
            add_subscriber(engine, norm, name=(row.get("name") or None), language=((row.get("language") or "").strip() or None),
                           reactivate=reactivate)
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
