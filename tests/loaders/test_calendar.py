"""Exchange sessions come from exchange_calendars (XNYS)."""

from __future__ import annotations

import datetime as dt

import pytest

from loaders.calendar import sessions


def test_nyse_holidays_and_closures_are_not_sessions() -> None:
    days = sessions(dt.date(2012, 10, 26), dt.date(2019, 7, 5))
    assert dt.date(2012, 10, 26) in days
    assert dt.date(2012, 10, 29) not in days  # hurricane Sandy closure
    assert dt.date(2019, 5, 27) not in days  # Memorial Day
    assert dt.date(2019, 7, 4) not in days and dt.date(2019, 7, 5) in days


def test_a_single_day_range_works() -> None:
    assert sessions(dt.date(2019, 6, 26), dt.date(2019, 6, 26)) == {dt.date(2019, 6, 26)}


def test_an_unknown_calendar_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown exchange calendar 'XXXX'"):
        sessions(dt.date(2019, 1, 2), dt.date(2019, 1, 3), "XXXX")
