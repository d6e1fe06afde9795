"""Regenerate the dbt seed ``nyse_sessions.csv`` (NYSE sessions, 1990-01-01 to 2026-12-31).

The seed is generated once and committed, so ``dbt build`` needs no Python calendar library;
``tests/loaders/test_calendar.py`` fails when the committed file no longer matches what
``exchange_calendars`` (XNYS) gives, e.g. after a library upgrade adds a closure. Run from the
repository root::

    .venv/bin/python models_sql/seeds/make_nyse_sessions.py

Extend ``LAST_DAY`` before the option data reaches it: dbt checks (``dq_quote_date_is_session``,
``dq_no_missing_sessions``, ``dq_expiration_is_valid_day``) only know the days in this file.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

SEED_PATH = Path(__file__).with_name("nyse_sessions.csv")
FIRST_DAY = dt.date(1990, 1, 1)
LAST_DAY = dt.date(2026, 12, 31)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from loaders.calendar import write_sessions_csv

    n = write_sessions_csv(SEED_PATH, FIRST_DAY, LAST_DAY, "XNYS")
    print(f"wrote {n} XNYS sessions {FIRST_DAY}..{LAST_DAY} to {SEED_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
