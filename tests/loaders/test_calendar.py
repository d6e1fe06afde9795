"""Exchange sessions come from exchange_calendars (XNYS)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from loaders.calendar import session_rows, sessions, write_sessions_csv


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


def test_session_rows_flag_the_scheduled_half_days() -> None:
    # 2019-07-03 closed at 13:00 ET, 2019-07-04 was a holiday, 2019-11-29 (after Thanksgiving)
    # closed early.
    rows = dict(session_rows(dt.date(2019, 7, 2), dt.date(2019, 11, 29)))
    assert rows[dt.date(2019, 7, 3)] is True
    assert dt.date(2019, 7, 4) not in rows
    assert rows[dt.date(2019, 7, 5)] is False
    assert rows[dt.date(2019, 11, 29)] is True


def test_session_rows_reject_a_reversed_range() -> None:
    with pytest.raises(ValueError, match=r"end must not be before start"):
        session_rows(dt.date(2019, 7, 5), dt.date(2019, 7, 2))


def test_the_committed_dbt_seed_matches_the_library(tmp_path: Path) -> None:
    # models_sql/seeds/nyse_sessions.csv is generated once and committed; regenerate it with
    # models_sql/seeds/make_nyse_sessions.py when this fails.
    seed = Path(__file__).resolve().parents[2] / "models_sql" / "seeds" / "nyse_sessions.csv"
    fresh = tmp_path / "nyse_sessions.csv"
    n = write_sessions_csv(fresh, dt.date(1990, 1, 1), dt.date(2026, 12, 31))
    assert n == len(seed.read_text().splitlines()) - 1
    assert fresh.read_bytes() == seed.read_bytes()
