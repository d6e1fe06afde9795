"""Exchange trading days, from the maintained ``exchange_calendars`` library.

Quote dates and bar dates must be sessions of the exchange that prices them. US equities, ETFs and
their options, and Cboe's index options and volatility indices, follow the NYSE holiday calendar
(``XNYS``): exchange_calendars encodes its holidays and unscheduled closures (the 2012-10-29/30
hurricane closure, national days of mourning).
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_CALENDAR = "XNYS"
#: exchange_calendars is built under one lock: warnings.catch_warnings is not thread-safe and
#: the loader parses files on two threads.
_BUILD_LOCK = threading.Lock()


def _exchange_calendar(calendar: str, first: dt.date, last: dt.date) -> Any:
    """The ``exchange_calendars`` calendar object for ``[first, last]`` (library warnings muted)."""
    import exchange_calendars as xcals

    if calendar not in xcals.get_calendar_names():
        raise ValueError(
            f"unknown exchange calendar {calendar!r}; e.g. XNYS, XNAS, XCBF "
            "(see exchange_calendars.get_calendar_names())"
        )
    with _BUILD_LOCK, warnings.catch_warnings():
        # exchange_calendars 4.13 still calls Series.values on tz-aware data, which pandas 3.1
        # deprecates (Pandas4Warning); the sessions it returns are unaffected.
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        try:
            from pandas.errors import Pandas4Warning

            warnings.simplefilter("ignore", category=Pandas4Warning)
        except ImportError:  # pandas < 3.1
            pass
        return xcals.get_calendar(calendar, start=first.isoformat(), end=last.isoformat())


@cache
def sessions(start: dt.date, end: dt.date, calendar: str = DEFAULT_CALENDAR) -> frozenset[dt.date]:
    """Trading days of ``calendar`` between ``start`` and ``end`` inclusive.

    Dates outside the library's range for the calendar are clipped to it (XNYS is defined from
    1885); the caller then sees them as non-sessions.

    Raises
    ------
    ValueError
        For an unknown calendar name (the message lists a few known ones).
    """
    first = max(start, dt.date(1886, 1, 1))
    last = max(end, first + dt.timedelta(days=7))  # the library needs start < end
    cal = _exchange_calendar(calendar, first, last)
    return frozenset(ts.date() for ts in cal.sessions if start <= ts.date() <= end)


def session_rows(
    start: dt.date, end: dt.date, calendar: str = DEFAULT_CALENDAR
) -> list[tuple[dt.date, bool]]:
    """Sessions of ``calendar`` in ``[start, end]`` as ``(session_date, is_early_close)``, sorted.

    ``is_early_close`` marks the scheduled half days (13:00 ET closes: the day after
    Thanksgiving, Christmas Eve, ...), on which equity and index options also stop trading early.

    Examples
    --------
    >>> for day, is_early_close in session_rows(dt.date(2019, 7, 2), dt.date(2019, 7, 5)):
    ...     print(day, is_early_close)
    2019-07-02 False
    2019-07-03 True
    2019-07-05 False

    Raises
    ------
    ValueError
        For an unknown calendar name, or ``end`` before ``start``.
    """
    if end < start:
        raise ValueError(f"end must not be before start, got start={start!r} end={end!r}")
    first = max(start, dt.date(1886, 1, 1))
    last = max(end, first + dt.timedelta(days=7))
    cal = _exchange_calendar(calendar, first, last)
    early = {ts.date() for ts in cal.early_closes}
    days = sorted(ts.date() for ts in cal.sessions if start <= ts.date() <= end)
    return [(day, day in early) for day in days]


def write_sessions_csv(
    path: Path, start: dt.date, end: dt.date, calendar: str = DEFAULT_CALENDAR
) -> int:
    """Write :func:`session_rows` as a dbt seed CSV (``session_date,is_early_close``).

    The file is byte-for-byte deterministic for given arguments (ISO dates, ``true``/``false``,
    ``\\n`` line ends), so regenerating it only changes it when the library's calendar changes.

    Returns
    -------
    int
        Number of sessions written.
    """
    rows = session_rows(start, end, calendar)
    lines = ["session_date,is_early_close"]
    lines += [f"{day.isoformat()},{str(is_early).lower()}" for day, is_early in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return len(rows)


#: calendar -> (first year, last year, sorted sessions): one span per calendar, widened by whole
#: decades when a date falls outside it, so a load builds the calendar once or twice, not per file.
_SPANS: dict[str, tuple[int, int, tuple[dt.date, ...]]] = {}
_SPANS_LOCK = threading.Lock()


def sessions_covering(
    first: dt.date, last: dt.date, calendar: str = DEFAULT_CALENDAR
) -> tuple[dt.date, ...]:
    """Sessions of whole decades covering ``[first, last]``, sorted (cached, thread-safe)."""
    with _SPANS_LOCK:
        span = _SPANS.get(calendar)
        if span is None or first.year < span[0] or last.year > span[1]:
            lo = min(first.year, span[0] if span else first.year) // 10 * 10
            hi = max(last.year, span[1] if span else last.year) // 10 * 10 + 9
            days = sessions(dt.date(lo, 1, 1), dt.date(hi, 12, 31), calendar)
            span = (lo, hi, tuple(sorted(days)))
            _SPANS[calendar] = span
        return span[2]


def last_session_on_or_before(dates: Any, calendar: str = DEFAULT_CALENDAR) -> Any:
    """The last session of ``calendar`` on or before each date (a session maps to itself).

    This is how an option's expiry is normalised to its last trading session: a pre-2015
    Saturday expiration (standard options formally expired on the Saturday after the third
    Friday until OCC's change of February 2015) maps to the Friday; a Friday that is an exchange
    holiday (Good Friday) to the Thursday before.

    Parameters
    ----------
    dates
        ``polars.Series`` of ``Date``; nulls stay null.

    Returns
    -------
    polars.Series
        ``Date``, same length and order.

    Examples
    --------
    >>> import polars as pl
    >>> days = pl.Series([dt.date(2011, 1, 22), dt.date(2014, 4, 19), dt.date(2019, 5, 17), None])
    >>> last_session_on_or_before(days).to_list()
    [datetime.date(2011, 1, 21), datetime.date(2014, 4, 17), datetime.date(2019, 5, 17), None]
    """
    import polars as pl

    present = dates.drop_nulls()
    if present.len() == 0:
        return dates
    first, last = present.min(), present.max()
    known = pl.Series(
        "session", sessions_covering(first - dt.timedelta(days=10), last, calendar), dtype=pl.Date
    )
    unique = pl.DataFrame({"day": present.unique().sort()})
    mapped = unique.join_asof(
        pl.DataFrame({"session": known}).sort("session"),
        left_on="day",
        right_on="session",
        strategy="backward",
    )
    lookup = dict(zip(mapped["day"].to_list(), mapped["session"].to_list(), strict=True))
    return dates.replace_strict(lookup, default=None, return_dtype=pl.Date).alias(dates.name)
