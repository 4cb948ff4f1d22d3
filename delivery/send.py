"""Exactly-once delivery of one note date through the send ledger.

Each (date, subscriber) has one ledger row. A run *claims* a row before touching the SMTP
server (an atomic compare-and-set to ``sending`` with its owner id and a lease), records
``committing`` after the whole message has been handed over but before the terminating
``.`` that makes the server accept it, and ``sent`` after the server's 250. Two runs at once
therefore never send the same row: the second finds it claimed and waits for the first.

What a crash (``kill -9``, power loss after the WAL reached disk) can do, by window:

========================================  ===============================================
the process dies ...                       outcome
========================================  ===============================================
before the ``committing`` record           the server got no final dot and discards the
                                           message; the row is ``sending`` and is claimed
                                           again (at once when the owner's pid is gone on
                                           this host, else after the lease): sent once.
after ``committing``, before the dot is    **lost** (at-most-once): the row says the
written to the socket                      message was handed over. A few microseconds
                                           of Python between a commit and one ``send``.
after the dot, before ``sent``             the server has the message (the kernel sends
                                           the buffered dot even after the kill); the row
                                           is ``committing`` and is taken as delivered,
                                           never resent: sent once.
after ``sent``                             sent once.
========================================  ===============================================

A *server* that drops the connection after the dot without replying is the one case of
at-least-once: the message is retried (most servers discard a transaction they did not
acknowledge); the Message-ID is deterministic, so a duplicate is recognisable.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from nightdesk.delivery.message import MailTemplate, SubscriberLinks, build_message, message_id, sender_domain
from nightdesk.delivery.store import (
    StoreError,
    Subscriber,
    SubscriberError,
    list_subscribers,
    retry_locked,
    send_ledger,
    set_status_by_id,
    subscribers,
)
from nightdesk.delivery.transport import MessageRefused, RecipientRefused, TransientSendError, TransportFailure


@dataclass
class DeliveryReport:
    """What one run did. ``error`` is set when the run was aborted (one line); ``not_sent``
    has one line per subscriber this run could not send (and nobody else had sent)."""

    note_date: str = ""
    sent: int = 0
    skipped_already_sent: int = 0
    bounced: int = 0
    retried: int = 0
    gave_up: int = 0
    not_sent: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def failed_permanent(self) -> int:
        """Bounced subscribers (the name the benchmarks and older callers use)."""
        return self.bounced

    @property
    def complete(self) -> bool:
        """True when nothing stopped the run and no subscriber was left unsent."""
        return self.error is None and not self.not_sent

    def summary(self) -> str:
        """One line: the counts."""
        return (f"sent {self.sent}, already sent {self.skipped_already_sent}, bounced {self.bounced}, "
                f"not sent {len(self.not_sent)}" + (f" (gave up on {self.gave_up})" if self.gave_up else ""))


class DeliveryFailed(Exception):
    """A delivery run that did not reach everyone; ``report`` says what it did (the data of the
    flow run's Failed state, raised by a plain call of the flow)."""

    def __init__(self, report: DeliveryReport):
        super().__init__(report.error or report.summary())
        self.report = report

    def __reduce__(self):
        return type(self), (self.report,)


class ClaimLost(RuntimeError):
    """Another run took over this row (our lease ran out): do not finish the message."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def run_owner() -> str:
    """This run's claim owner id: ``host:pid:start-ticks:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{_proc_start(os.getpid()) or 0}:{secrets.token_hex(4)}"


def owner_alive(owner: str | None) -> bool | None:
    """Whether the run that holds a claim still runs: False when it was on this host and its
    process is gone (or is a zombie, or the pid was reused); None when this cannot be told."""
    parts = (owner or "").split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname() or not parts[1].isdigit() or not Path("/proc/self/stat").exists():
        return None
    try:
        stat = Path(f"/proc/{parts[1]}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X") or (parts[2] != "0" and fields[19] != parts[2]):
        return False
    return True


_L, _b = send_ledger.c, sa.bindparam
_ROW = sa.and_(_L.note_date == _b("b_date"), _L.subscriber_id == _b("b_sub"))
_MINE = sa.and_(_ROW, _L.claim_owner == _b("b_owner"))
# The per-message statements, built once (building them per call cost a third of the ledger's time).
_CLAIM_READ = (sa.select(_L.status, _L.claim_owner, _L.claim_expires_utc, _L.attempts, subscribers.c.status.label("sub_status"))
               .join(subscribers, subscribers.c.id == _L.subscriber_id).where(_ROW))
_CLAIM = (send_ledger.update().where(_ROW, _L.status == _b("b_status"), _L.claim_owner.is_not_distinct_from(_b("b_was")))
          .values(status="sending", claim_owner=_b("b_owner"), claim_expires_utc=_b("b_expires"), updated_utc=_b("b_now")))
_COMMITTING = (send_ledger.update().where(_MINE, _L.status == "sending")
               .values(status="committing", attempts=_b("b_attempts"), updated_utc=_b("b_now"), claim_expires_utc=_b("b_expires")))
_SENT = (send_ledger.update().where(_MINE, _L.status.in_(("committing", "sending")))
         .values(status="sent", last_error=None, claim_owner=None, claim_expires_utc=None, updated_utc=_b("b_now")))


class Ledger:
    """The send ledger of one date, seen by one run (one connection, short write transactions)."""

    def __init__(self, engine: sa.Engine, note_date: str, owner: str, *, lease_s: float, lock_wait_s: float):
        self.engine, self.note_date, self.owner = engine, note_date, owner
        self.lease_s, self.lock_wait_s = lease_s, lock_wait_s
        self.url = str(engine.url)
        self.conn = engine.connect()
        self.conn.execution_options(nightdesk_write=True)

    def close(self) -> None:
        self.conn.close()

    def _write(self, what: str, fn):
        def tx():
            with self.conn.begin():
                return fn(self.conn)
        return retry_locked(tx, wait_s=self.lock_wait_s, what=what, url=self.url)

    def _key(self, sub_id: int):
        return sa.and_(send_ledger.c.note_date == self.note_date, send_ledger.c.subscriber_id == sub_id)

    def ensure_rows(self, subs: list[Subscriber], domain: str) -> None:
        """A ``pending`` row for every subscriber that has none yet (one transaction)."""
        def fn(conn):
            have = set(conn.execute(sa.select(send_ledger.c.subscriber_id).where(send_ledger.c.note_date == self.note_date)).scalars())
            now = _now()
            rows = [{"note_date": self.note_date, "subscriber_id": s.id, "message_id": message_id(self.note_date, s.id, domain),
                     "status": "pending", "attempts": 0, "updated_utc": now} for s in subs if s.id not in have]
            if rows:
                conn.execute(send_ledger.insert(), rows)
        self._write("the ledger rows", fn)

    def claim(self, sub: Subscriber) -> tuple[str, int]:
        """``(outcome, attempts so far)``; outcome is ``claimed``, ``done`` (sent, or no longer
        active), ``busy`` (another live run has it) or ``presumed`` (a dead run had handed it over)."""
        key = {"b_date": self.note_date, "b_sub": sub.id}

        def fn(conn):
            row = conn.execute(_CLAIM_READ, key).first()
            now = _now()
            if row is None or row.status == "sent" or row.sub_status != "active":
                return "done", 0
            if row.status in ("sending", "committing"):
                stale = row.claim_expires_utc is None or row.claim_expires_utc <= now or owner_alive(row.claim_owner) is False
                if row.claim_owner != self.owner and not stale:
                    return "busy", row.attempts
                if row.status == "committing":
                    conn.execute(send_ledger.update().where(self._key(sub.id), send_ledger.c.status == "committing",
                                                            send_ledger.c.claim_owner == row.claim_owner)
                                 .values(status="sent", claim_owner=None, claim_expires_utc=None, updated_utc=now,
                                         last_error=f"presumed delivered: run {row.claim_owner} stopped after handing the message over"))
                    return "presumed", row.attempts
            res = conn.execute(_CLAIM, {**key, "b_status": row.status, "b_was": row.claim_owner, "b_owner": self.owner,
                                        "b_expires": now + dt.timedelta(seconds=self.lease_s), "b_now": now})
            return ("claimed" if res.rowcount == 1 else "busy"), row.attempts
        return self._write(f"the claim of {sub.email}", fn)

    def _mine(self, sub_id: int, *statuses: str):
        return sa.and_(self._key(sub_id), send_ledger.c.claim_owner == self.owner, send_ledger.c.status.in_(statuses))

    def committing(self, sub: Subscriber, attempts: int) -> None:
        """Record that the message is about to become final; :class:`ClaimLost` if it is no longer ours."""
        def fn(conn):
            now = _now()
            return conn.execute(_COMMITTING, {"b_date": self.note_date, "b_sub": sub.id, "b_owner": self.owner, "b_attempts": attempts,
                                              "b_now": now, "b_expires": now + dt.timedelta(seconds=self.lease_s)}).rowcount
        if self._write(f"the send of {sub.email}", fn) != 1:
            raise ClaimLost(f"{sub.email}: another run took over the claim")

    def sent(self, sub: Subscriber) -> None:
        self._write(f"the send of {sub.email}", lambda conn: conn.execute(
            _SENT, {"b_date": self.note_date, "b_sub": sub.id, "b_owner": self.owner, "b_now": _now()}))

    def retrying(self, sub: Subscriber, attempts: int, error: str) -> None:
        """Still ours, to be tried again: back to ``sending`` with a renewed lease."""
        def fn(conn):
            now = _now()
            conn.execute(send_ledger.update().where(self._mine(sub.id, "committing", "sending"))
                         .values(status="sending", attempts=attempts, last_error=error, updated_utc=now,
                                 claim_expires_utc=now + dt.timedelta(seconds=self.lease_s)))
        self._write(f"a retry of {sub.email}", fn)

    def release(self, sub: Subscriber, attempts: int | None, error: str | None, *, status: str = "pending") -> None:
        """Give the row up: ``pending`` (a later run may send it) or ``failed`` (bounced)."""
        def fn(conn):
            values = {"status": status, "last_error": error, "claim_owner": None, "claim_expires_utc": None, "updated_utc": _now()}
            if attempts is not None:
                values["attempts"] = attempts
            conn.execute(send_ledger.update().where(self._mine(sub.id, "committing", "sending")).values(**values))
            if status == "failed":
                set_status_by_id(conn, sub.id, "bounced", email=sub.email, source="smtp:5xx at RCPT")
        self._write(f"the result for {sub.email}", fn)


class _Aborted(Exception):
    """The run stops: one line."""


def deliver(
    engine: sa.Engine,
    note_date: str,
    *,
    templates: Mapping[str, MailTemplate],
    transport,
    from_addr: str,
    unsubscribe_mailto: str,
    unsubscribe_url: str | Callable[[Subscriber], SubscriberLinks],
    unavailable: Mapping[str, str] | None = None,
    rate_per_s: float = 50.0,
    max_attempts: int = 5,
    backoff_s: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0),
    claim_lease_s: float = 300.0,
    lock_wait_s: float = 30.0,
    wait_poll_s: float = 0.2,
    owner: str | None = None,
) -> DeliveryReport:
    """Send ``note_date`` to every active subscriber whose ledger row is not yet sent.

    Parameters
    ----------
    templates : mapping
        The edition's :class:`MailTemplate` per subscriber language; a subscriber whose
        language is missing is reported (``unavailable[lang]`` says why) and not sent.
    transport
        :class:`~nightdesk.delivery.transport.SmtpTransport` or ``OutboxTransport``.
    claim_lease_s : float
        How long a claim stays another run's; a claim of a run that died on this host is
        taken over at once.

    Returns
    -------
    DeliveryReport
        Never raises for a delivery failure: a transport failure (server down, login or
        sender refused) or a database that stays locked sets ``error`` and stops the run,
        after recording what was sent and marking nobody.
    """
    report = DeliveryReport(note_date=note_date)
    unavailable = unavailable or {}
    domain = sender_domain(from_addr)
    gap_s = 1.0 / rate_per_s
    last = [0.0]
    ledger = None
    try:
        ledger = Ledger(engine, note_date, owner or run_owner(), lease_s=claim_lease_s, lock_wait_s=lock_wait_s)
        subs = list_subscribers(engine, status="active")
        ledger.ensure_rows(subs, domain)
        waiting: list[Subscriber] = []
        for sub in subs:
            if sub.language not in templates:
                report.not_sent.append(f"{sub.email}: {unavailable.get(sub.language, f'no {sub.language} edition')}")
                continue
            if not _claim_and_send(ledger, sub, report, templates, transport, from_addr, unsubscribe_mailto, unsubscribe_url,
                                   gap_s, last, max_attempts, backoff_s):
                waiting.append(sub)
        deadline = time.monotonic() + 2 * claim_lease_s
        while waiting:  # rows another run is sending: wait until it has, or its claim lapses
            if time.monotonic() > deadline:
                report.not_sent.extend(f"{s.email}: still claimed by another run after {2 * claim_lease_s:.0f} s" for s in waiting)
                break
            time.sleep(wait_poll_s)
            waiting = [s for s in waiting if not _claim_and_send(ledger, s, report, templates, transport, from_addr,
                                                                 unsubscribe_mailto, unsubscribe_url, gap_s, last, max_attempts, backoff_s)]
    except (_Aborted, StoreError, TransportFailure) as exc:
        report.error = str(exc)
    except sa.exc.DBAPIError as exc:
        from nightdesk.delivery.store import describe_db_error

        report.error = describe_db_error(str(engine.url), exc)
    finally:
        transport.close()
        if ledger is not None:
            ledger.close()
    return report


def _claim_and_send(ledger: Ledger, sub: Subscriber, report: DeliveryReport, templates, transport, from_addr: str,
                    unsubscribe_mailto: str, unsubscribe_url: str, gap_s: float, last: list[float], max_attempts: int,
                    backoff_s: tuple[float, ...]) -> bool:
    """Claim ``sub``'s row and send it; False when another live run holds it (ask again later)."""
    outcome, attempts = ledger.claim(sub)
    if outcome == "busy":
        return False
    if outcome == "done":
        report.skipped_already_sent += 1
        return True
    if outcome == "presumed":
        report.skipped_already_sent += 1
        report.notes.append(f"{sub.email}: a stopped run had handed the message over; taken as delivered, not resent")
        return True
    try:
        msg = build_message(sub, templates[sub.language], note_date=ledger.note_date, from_addr=from_addr,
                            unsubscribe_mailto=unsubscribe_mailto, unsubscribe_url=unsubscribe_url)
    except SubscriberError as exc:  # a row an older version let in: this subscriber only, never the others
        ledger.release(sub, None, str(exc))
        report.not_sent.append(f"{sub.email}: not sent: {exc}")
        return True
    try:
        while True:
            wait_s = last[0] + gap_s - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)
            last[0] = time.monotonic()
            attempts += 1
            try:
                transport.send(msg, lambda: ledger.committing(sub, attempts))
            except ClaimLost:
                report.notes.append(f"{sub.email}: taken over by another run")
                return True
            except TransientSendError as exc:
                if attempts >= max_attempts:
                    ledger.release(sub, attempts, str(exc))
                    report.gave_up += 1
                    report.not_sent.append(f"{sub.email}: gave up after {attempts} attempts: {exc}")
                    return True
                ledger.retrying(sub, attempts, str(exc))
            except TransportFailure as exc:
                if not (exc.connect and transport.ever_connected and attempts < max_attempts):
                    ledger.release(sub, attempts - 1, None)  # this attempt never reached the server
                    raise _Aborted(str(exc)) from None
                ledger.retrying(sub, attempts, str(exc))  # the server went away mid-run: its backoff, then abort
            except RecipientRefused as exc:
                ledger.release(sub, attempts, str(exc), status="failed")
                report.bounced += 1
                report.not_sent.append(f"{sub.email}: bounced: {exc}")
                return True
            except MessageRefused as exc:
                ledger.release(sub, attempts, str(exc))
                report.not_sent.append(f"{sub.email}: not sent: {exc}")
                return True
            else:
                ledger.sent(sub)
                report.sent += 1
                return True
            report.retried += 1
            time.sleep(backoff_s[min(attempts - 1, len(backoff_s) - 1)])
    except (_Aborted, StoreError):
        raise
    except BaseException:
        try:  # interrupted (Ctrl-C, a bug): give the claim back unless the message was handed over
            ledger.release(sub, None, "interrupted") if _still_sending(ledger, sub) else None
        except Exception:  # noqa: BLE001 - the lease or the dead-owner check frees it anyway
            pass
        raise


def _still_sending(ledger: Ledger, sub: Subscriber) -> bool:
    with ledger.engine.connect() as conn:
        return conn.execute(sa.select(send_ledger.c.status).where(ledger._key(sub.id))).scalar() == "sending"
