"""Exchange trading days, from the maintained ``exchange_calendars`` library.

Quote dates and bar dates must be sessions of the exchange that prices them. US equities, ETFs and
their options, and Cboe's index options and volatility indices, follow the NYSE holiday calendar
(``XNYS``): exchange_calendars encodes its holidays and unscheduled closures (the 2012-10-29/30
hurricane closure, national days of mourning).
"""

from __future__ import annotations

import datetime as dt
import warnings
from functools import cache

DEFAULT_CALENDAR = "XNYS"


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
    import exchange_calendars as xcals

    if calendar not in xcals.get_calendar_names():
        raise ValueError(
            f"unknown exchange calendar {calendar!r}; e.g. XNYS, XNAS, XCBF "
            "(see exchange_calendars.get_calendar_names())"
        )
    first = max(start, dt.date(1886, 1, 1))
    last = max(end, first + dt.timedelta(days=7))  # the library needs start < end
    with warnings.catch_warnings():
        # exchange_calendars 4.13 still calls Series.values on tz-aware data, which pandas 3.1
        # deprecates (Pandas4Warning); the sessions it returns are unaffected.
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        try:
            from pandas.errors import Pandas4Warning

            warnings.simplefilter("ignore", category=Pandas4Warning)
        except ImportError:  # pandas < 3.1
            pass
        cal = xcals.get_calendar(calendar, start=first.isoformat(), end=last.isoformat())
    return frozenset(ts.date() for ts in cal.sessions if start <= ts.date() <= end)
