"""Land a live yfinance fetch: daily bars, corporate actions and an option-chain snapshot.

Fetching is :mod:`loaders.yfinance_source`; landing is :func:`loaders.landing.land_frames`, the
same validation, batches and manifest as vendor files. Each symbol's history and each expiration
of a snapshot is one batch. Failures (rate limited, network, no data, bad schema) are reported per
symbol and never stop the others.

yfinance has **no option history**: each run adds one snapshot of the chains listed at that
moment (``quoted_at``), so history builds up only by running this day after day.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

from loaders import yfinance_source
from loaders.landing import LoadReport, land_frames
from loaders.printable import printable

#: Bars fetched when no --start is given: one year back from --end.
DEFAULT_LOOKBACK_DAYS = 366


def land_yfinance(
    symbols: list[str],
    raw_dir: Path,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    options: bool = True,
    progress: Callable[[LoadReport], None] | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> list[LoadReport]:
    """Fetch and land bars, corporate actions and (unless ``options`` is False) a chain snapshot.

    Parameters
    ----------
    symbols
        Tickers (``SPY``, ``^SPX`` style as Yahoo names them).
    start, end
        First and last bar date, inclusive, exchange-local; default the year up to today.
    now
        Clock of the snapshot (UTC); tests pass a fixed one.

    Returns
    -------
    list[LoadReport]
        One per landed (vendor, entity); symbol failures are in ``file_errors`` as
        ``yfinance://<SYM>: <kind>: <message>``.
    """
    now = now or (lambda: dt.datetime.now(dt.UTC))
    end = end or now().date()
    start = start or end - dt.timedelta(days=DEFAULT_LOOKBACK_DAYS)
    if start > end:
        raise ValueError(f"--start {start} is after --end {end}")

    def tick(done: int, total: int, symbol: str) -> None:
        print(
            f"  yfinance: {done}/{total} symbols ({printable(symbol)})", file=sys.stderr, flush=True
        )

    fetched = [
        yfinance_source.fetch_bars(symbols, start, end + dt.timedelta(days=1), progress=tick)
    ]
    if options:
        fetched.append(
            yfinance_source.snapshot_option_chains(symbols, snapshot_at=now(), progress=tick)
        )
    reports = []
    for result in fetched:
        errors = [
            f"yfinance://{f.symbol}{'/options/' + str(f.expiration) if f.expiration else ''}: "
            f"{f.kind}: {f.message}"
            for f in result.failures
        ]
        for entity, frame in result.frames.items():
            report = land_frames("yfinance", entity, frame, raw_dir, now=now)
            report.file_errors += errors
            errors = []  # reported once per fetch
            if progress:
                progress(report)
            reports.append(report)
    return reports
