"""NYSE sessions from ``exchange-calendars``; no hand-written holiday lists.

Any date gets an answer. ``exchange-calendars`` only answers inside the range a calendar was
built for (by default 1990 to about a year ahead; outside it raises ``DateOutOfBounds``), so
the usual calendar is the default one and a date outside it is answered by a calendar built
lazily for the 20-year blocks around it (0.1 s each, cached), anywhere in
:data:`CALENDAR_FIRST` .. :data:`CALENDAR_LAST`. Dates outside that
range (0001-01-01, 9999-12-31) are not sessions of any known calendar: :func:`is_session` says
no, :func:`why_not_session` says why, and :func:`previous_session` / :func:`resolve_session`
raise :class:`~nightdesk.marketdata.base.CalendarError` naming the range.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from nightdesk.marketdata.base import CalendarError, DataError, DataNotYetAvailable

CALENDAR_FIRST = dt.date(1885, 1, 1)
"""First date the NYSE calendar answers for (exchange-calendars' XNYS rules start in the 1880s)."""
CALENDAR_LAST = dt.date(2200, 12, 31)
"""Last date the NYSE calendar answers for (holiday rules projected forward)."""


@lru_cache(maxsize=1)
def nyse() -> xcals.ExchangeCalendar:
    """The XNYS calendar from 1990 to about a year ahead (cached: building it takes ~0.1 s)."""
    return xcals.get_calendar("XNYS", start="1990-01-02")


BLOCK_YEARS = 20
"""A calendar outside the default range is built for the 20-year blocks the dates need (~0.1 s a block)."""


@lru_cache(maxsize=16)
def _nyse_years(first_year: int, last_year: int) -> xcals.ExchangeCalendar:
    """The XNYS calendar from 1 January ``first_year`` to 31 December ``last_year`` (cached)."""
    start = max(dt.date(first_year, 1, 1), CALENDAR_FIRST)
    end = min(dt.date(last_year, 12, 31), CALENDAR_LAST)
    return xcals.get_calendar("XNYS", start=start.isoformat(), end=end.isoformat())


def _block(year: int) -> int:
    """First year of the :data:`BLOCK_YEARS` block holding ``year`` (blocks start in 1880, 1900, ...)."""
    return 1880 + BLOCK_YEARS * ((year - 1880) // BLOCK_YEARS)


def in_range(day: dt.date) -> bool:
    """True when the NYSE calendar answers for ``day`` (see :data:`CALENDAR_FIRST`, :data:`CALENDAR_LAST`)."""
    return CALENDAR_FIRST <= day <= CALENDAR_LAST


def _out_of_range(day: dt.date, label: str = "date") -> CalendarError:
    return CalendarError(f"{label} {day.isoformat()} is outside the NYSE calendar, which covers "
                         f"{CALENDAR_FIRST.isoformat()} to {CALENDAR_LAST.isoformat()}")


def calendar_for(*days: dt.date) -> xcals.ExchangeCalendar:
    """The default calendar when it covers every one of ``days`` (with a week's margin), else the wide one.

    Raises
    ------
    CalendarError
        A day outside :data:`CALENDAR_FIRST` .. :data:`CALENDAR_LAST`.
    """
    for day in days:
        if not in_range(day):
            raise _out_of_range(day)
    cal = nyse()
    lo, hi = min(days) - dt.timedelta(days=31), max(days) + dt.timedelta(days=31)
    if cal.first_session.date() <= lo and hi <= cal.last_session.date():
        return cal
    lo, hi = max(lo, CALENDAR_FIRST), min(hi, CALENDAR_LAST)
    return _nyse_years(_block(lo.year), _block(hi.year) + BLOCK_YEARS - 1)


def is_session(day: dt.date) -> bool:
    """True when NYSE holds a regular or early-close session on ``day`` (False outside the calendar's range)."""
    if not in_range(day):
        return False
    return bool(calendar_for(day).is_session(pd.Timestamp(day)))


def previous_session(day: dt.date) -> dt.date:
    """The last session strictly before ``day``.

    Raises
    ------
    CalendarError
        ``day`` outside the calendar's range (or no session before it inside the range).
    """
    if not in_range(day):
        raise _out_of_range(day)
    if day <= CALENDAR_FIRST + dt.timedelta(days=7):
        raise CalendarError(f"date {day.isoformat()} has no earlier session in the NYSE calendar, which starts {CALENDAR_FIRST.isoformat()}")
    prev = day - dt.timedelta(days=1)
    return calendar_for(day, prev).date_to_session(pd.Timestamp(prev), direction="previous").date()


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in ``[start, end]`` (a :class:`CalendarError` if either is outside the calendar)."""
    if end < start:
        return []
    return [ts.date() for ts in calendar_for(start, end).sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def last_closed_session(now: dt.datetime, *, settle_s: float = 0.0) -> dt.date:
    """The latest session whose close (early closes included) is at least ``settle_s`` before ``now`` (aware).

    A source asked during a session returns the session's running price as its 'close'; this is
    the last session whose close is final.

    Examples
    --------
    >>> last_closed_session(dt.datetime(2026, 8, 3, 19, 59, tzinfo=dt.timezone.utc))  # 15:59 in New York
    datetime.date(2026, 7, 31)
    >>> last_closed_session(dt.datetime(2026, 8, 3, 20, 0, tzinfo=dt.timezone.utc))
    datetime.date(2026, 8, 3)
    """
    cal = nyse()
    stamp = pd.Timestamp(now).tz_convert("UTC") - pd.Timedelta(seconds=settle_s)
    day = cal.date_to_session(pd.Timestamp(stamp.date()), direction="previous")
    while cal.session_close(day) > stamp:
        day = cal.previous_session(day)
    return day.date()


def why_not_session(day: dt.date) -> str:
    """Human reason a date is not a session: weekend, the holiday's name, or outside the calendar."""
    if not in_range(day):
        return f"outside the NYSE calendar, which covers {CALENDAR_FIRST.isoformat()} to {CALENDAR_LAST.isoformat()}"
    if day.weekday() >= 5:
        return day.strftime("%A")
    cal = calendar_for(day)
    holidays = cal.regular_holidays.holidays(start=day, end=day, return_name=True)
    if len(holidays):
        return f"NYSE holiday ({holidays.iloc[0]})"
    adhoc = {d.date() for d in cal.adhoc_holidays}
    return "NYSE closed (ad hoc closure)" if day in adhoc else "NYSE closed"


def resolve_session(day: dt.date, *, snap: bool, last_available: dt.date, first_available: dt.date) -> dt.date:
    """Check ``day`` against the calendar and the provider's coverage.

    Parameters
    ----------
    day : datetime.date
        Requested note date.
    snap : bool
        When ``day`` is not a session, use the previous session instead of failing.
    last_available, first_available : datetime.date
        The provider's data range.

    Returns
    -------
    datetime.date
        The session to run.

    Raises
    ------
    CalendarError
        A date outside the calendar's range, or a non-session without ``snap``.
    DataNotYetAvailable
        A session after the provider's last date.
    DataError
        A session before the provider's history.
    """
    if not in_range(day):
        raise _out_of_range(day, "--date")
    if not is_session(day):
        prev = previous_session(day)
        if not snap:
            raise CalendarError(
                f"--date {day.isoformat()} is not a NYSE session ({why_not_session(day)}); "
                f"the previous session is {prev.isoformat()} (use --snap to run it)"
            )
        day = prev
    if day > last_available:
        raise DataNotYetAvailable(
            f"--date {day.isoformat()} is beyond the provider's data, which ends {last_available.isoformat()}"
        )
    if day < first_available:
        raise DataError(
            f"--date {day.isoformat()} is before the provider's history, which starts {first_available.isoformat()}"
        )
    return day
