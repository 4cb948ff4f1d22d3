"""NYSE sessions from ``exchange-calendars``; no hand-written holiday lists."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from nightdesk.marketdata.base import DataError


@lru_cache(maxsize=1)
def nyse() -> xcals.ExchangeCalendar:
    """The XNYS calendar (cached: building it takes ~0.3 s)."""
    return xcals.get_calendar("XNYS", start="1990-01-02")


def is_session(day: dt.date) -> bool:
    """True when NYSE holds a regular or early-close session on ``day``."""
    return bool(nyse().is_session(pd.Timestamp(day)))


def previous_session(day: dt.date) -> dt.date:
    """The last session strictly before ``day``."""
    return nyse().date_to_session(pd.Timestamp(day) - pd.Timedelta(days=1), direction="previous").date()


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in ``[start, end]``."""
    return [ts.date() for ts in nyse().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


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
    """Human reason a date is not a session: weekend or the holiday's name."""
    if day.weekday() >= 5:
        return day.strftime("%A")
    holidays = nyse().regular_holidays.holidays(start=day, end=day, return_name=True)
    if len(holidays):
        return f"NYSE holiday ({holidays.iloc[0]})"
    adhoc = {d.date() for d in nyse().adhoc_holidays}
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
    DataError
        Non-session without ``snap``, or a date outside the provider's data.
    """
    if not is_session(day):
        prev = previous_session(day)
        if not snap:
            raise DataError(
                f"--date {day.isoformat()} is not a NYSE session ({why_not_session(day)}); "
                f"the previous session is {prev.isoformat()} (use --snap to run it)"
            )
        day = prev
    if day > last_available:
        raise DataError(
            f"--date {day.isoformat()} is beyond the provider's data, which ends {last_available.isoformat()}"
        )
    if day < first_available:
        raise DataError(
            f"--date {day.isoformat()} is before the provider's history, which starts {first_available.isoformat()}"
        )
    return day
