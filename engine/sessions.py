"""The session clock: a backtest's days are the exchange's sessions, never the vendor's dates.

A run's calendar is every NYSE (XNYS) session from its start to its end (the config's window, else
the first and last day the chain has quotes), as ``exchange_calendars`` lists them (the committed
seed ``models_sql/seeds/nyse_sessions.csv``; the warehouse's ``seeds.nyse_sessions``). Cboe index
and equity options trade on this calendar. A session the vendor did not deliver is kept: it is a
*stale* day (marks carried, no fill), so "hold 5 days" counts five sessions and annualisation
counts every session. A gap in the data longer than ``max_gap_sessions`` consecutive sessions is
refused with an error naming it, so a run never joins, say, a week of 2011 to 2019 as if they were
consecutive.

Quote time: each session carries ``quoted_at``, the time its quotes were taken (the chain's
``quoted_at``: 15:45 ET for the Cboe end-of-day snapshot, 16:00 for a close), and ``close_at``, the
session's close (16:00 ET; 13:00 on a scheduled early close, NYSE Rule 7.2). A signal computed from
session ``t``'s close is known at ``close_at(t)`` and fills at the first session whose quotes were
taken after it (:func:`signal_entry_sessions`): with 15:45 snapshots, the next session's.
"""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl

SEED_PATH = Path(__file__).resolve().parents[1] / "models_sql" / "seeds" / "nyse_sessions.csv"
EXCHANGE_TZ = "America/New_York"


class CoverageGapError(ValueError):
    """The chain has no quotes for more consecutive sessions than a run may span."""


@functools.cache
def _seed() -> pl.DataFrame:
    return pl.read_csv(
        SEED_PATH, schema={"session_date": pl.Date, "is_early_close": pl.Boolean}
    ).sort("session_date")


def nyse_sessions() -> pl.LazyFrame:
    """The committed NYSE session seed: ``session_date`` (Date), ``is_early_close`` (bool),
    1990-01-02 to 2026-12-31 (source: ``exchange_calendars`` XNYS; see the seed's YAML)."""
    return _seed().lazy()


def _et(date: pl.Expr, hour: pl.Expr | int, minute: int = 0) -> pl.Expr:
    """UTC instant of ``hour:minute`` New York time on ``date`` (DST-aware)."""
    return (
        (date.cast(pl.Datetime("us")) + pl.duration(hours=hour, minutes=minute))
        .dt.replace_time_zone(EXCHANGE_TZ, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def session_close(date: pl.Expr, is_early_close: pl.Expr) -> pl.Expr:
    """UTC instant of the session's close: 16:00 ET, 13:00 ET on an early close (NYSE Rule 7.2)."""
    return _et(date, pl.when(is_early_close).then(13).otherwise(16))


def session_calendar(
    chain: pl.LazyFrame,
    sessions: pl.LazyFrame,
    *,
    start_date: str | None,
    end_date: str | None,
    max_gap_sessions: int,
    label: str,
) -> pl.DataFrame:
    """Every exchange session of the run's window, with what the chain holds on it.

    Parameters
    ----------
    chain
        Option quotes of the run's roots: ``quote_date``, ``quoted_at`` (UTC), ``underlying_price``.
    sessions
        ``session_date``, ``is_early_close`` (:func:`nyse_sessions` or ``seeds.nyse_sessions``).
    start_date, end_date
        ISO dates bounding the window; the calendar runs from the first to the last session with
        quotes inside it (the window clipped to the data's coverage).
    max_gap_sessions
        Most consecutive sessions without quotes a run may span.
    label
        Names the chain in errors (e.g. ``"SPX roots ['SPXW']"``).

    Returns
    -------
    pl.DataFrame
        One row per session, in date order: ``quote_date``, ``day_index`` (0, 1, … over sessions),
        ``has_quotes``, ``quoted_at`` (UTC; the earliest quote time of the session, null without
        quotes), ``close_at`` (UTC), ``spot`` (the chain's median underlying price at the quote
        time, null without quotes), ``prior_session`` (the exchange session before). Empty when
        the chain has no quote in the window.

    Raises
    ------
    CoverageGapError
        A run of more than ``max_gap_sessions`` sessions without quotes inside the window, named
        with its first and last session and its length.
    """
    quoted = chain.group_by("quote_date").agg(
        pl.col("quoted_at").min().alias("quoted_at"),
        pl.col("underlying_price").median().alias("spot"),
    )
    if start_date:
        quoted = quoted.filter(pl.col("quote_date") >= pl.lit(start_date).str.to_date())
    if end_date:
        quoted = quoted.filter(pl.col("quote_date") <= pl.lit(end_date).str.to_date())
    quoted = quoted.collect()
    if quoted.is_empty():
        return pl.DataFrame(
            schema={
                "quote_date": pl.Date,
                "day_index": pl.Int64,
                "has_quotes": pl.Boolean,
                "quoted_at": pl.Datetime("us", "UTC"),
                "close_at": pl.Datetime("us", "UTC"),
                "spot": pl.Float64,
                "prior_session": pl.Date,
            }
        )
    # the configured window clipped to the data's coverage: no leading or trailing quote-less run
    first = quoted["quote_date"].min().isoformat()
    last = quoted["quote_date"].max().isoformat()
    calendar = (
        sessions.sort("session_date")
        .with_columns(pl.col("session_date").shift(1).alias("prior_session"))
        .filter(
            pl.col("session_date").is_between(
                pl.lit(first).str.to_date(), pl.lit(last).str.to_date()
            )
        )
        .select(
            pl.col("session_date").alias("quote_date"),
            session_close(pl.col("session_date"), pl.col("is_early_close")).alias("close_at"),
            "prior_session",
        )
        .sort("quote_date")
        .collect()
        .join(quoted, on="quote_date", how="left")
        .with_columns(pl.col("quoted_at").is_not_null().alias("has_quotes"))
        .with_row_index("day_index")
        .select(
            pl.col("day_index").cast(pl.Int64),
            "quote_date",
            "has_quotes",
            pl.col("quoted_at").cast(pl.Datetime("us", "UTC")),
            pl.col("close_at").cast(pl.Datetime("us", "UTC")),
            pl.col("spot").cast(pl.Float64),
            "prior_session",
        )
        .select(
            "quote_date",
            "day_index",
            "has_quotes",
            "quoted_at",
            "close_at",
            "spot",
            "prior_session",
        )
    )
    _refuse_gaps(calendar, max_gap_sessions, label)
    return calendar


def _refuse_gaps(calendar: pl.DataFrame, max_gap_sessions: int, label: str) -> None:
    """Raise on the longest run of quote-less sessions if it exceeds ``max_gap_sessions``."""
    runs = (
        calendar.with_columns(pl.col("has_quotes").rle_id().alias("_run"))
        .filter(~pl.col("has_quotes"))
        .group_by("_run")
        .agg(
            pl.col("quote_date").min().alias("first"),
            pl.col("quote_date").max().alias("last"),
            pl.len().alias("n"),
        )
        .sort("n", "first", descending=[True, False])
    )
    if runs.height and runs["n"][0] > max_gap_sessions:
        gap = runs.row(0, named=True)
        # the window is clipped to the coverage, so quotes exist on both sides of any gap
        before = calendar.filter(pl.col("has_quotes") & (pl.col("quote_date") < gap["first"]))
        after = calendar.filter(pl.col("has_quotes") & (pl.col("quote_date") > gap["last"]))
        raise CoverageGapError(
            f"the {label} chain has no quotes for {gap['n']:,} consecutive NYSE sessions "
            f"{gap['first']}..{gap['last']} (max_gap_sessions = {max_gap_sessions}): a run may "
            "not span that gap; set end_date on or before "
            f"{before['quote_date'].max()} or start_date on or after {after['quote_date'].min()}"
        )


def signal_entry_sessions(
    signals: pl.LazyFrame,
    calendar: pl.LazyFrame,
    *,
    lag_sessions: int | None,
    by: tuple[str, ...] = (),
) -> pl.LazyFrame:
    """The session each signal may first fill on, given when its information existed.

    Parameters
    ----------
    signals
        One row per ``as_of_date`` (any other columns are carried).
    calendar
        :func:`session_calendar`'s frame.
    lag_sessions
        ``None``: the first session whose quotes were taken after ``as_of_date``'s close
        (``quoted_at > close_at``); an integer ``n``: the ``n``-th session after ``as_of_date``
        (0 = the same session's quotes: stated look-ahead when those quotes precede the close).

    Returns
    -------
    pl.LazyFrame
        The signals with ``quote_date`` (the entry session) and ``signal_date`` (= ``as_of_date``).
        When several signals of one key map to one session (quotes missing in between), the
        latest wins.
        Signals whose session is outside the calendar are dropped.
    """
    by_day = calendar.select("quote_date", "day_index", "close_at", "quoted_at", "has_quotes")
    if lag_sessions is None:
        quote_times = (
            by_day.filter("has_quotes")
            .select(pl.col("quote_date").alias("_entry"), pl.col("quoted_at").alias("_q"))
            .sort("_q")
        )
        # the information time of an as_of_date: its session's close (16:00 ET on a date
        # outside the calendar, e.g. before the window)
        info = signals.join(
            by_day.select(pl.col("quote_date").alias("as_of_date"), "close_at"),
            on="as_of_date",
            how="left",
        ).with_columns(pl.coalesce("close_at", _et(pl.col("as_of_date"), 16)).alias("_info_at"))
        mapped = (
            info.sort("_info_at")
            .join_asof(
                quote_times,
                left_on="_info_at",
                right_on="_q",
                strategy="forward",
                allow_exact_matches=False,
            )
            .filter(pl.col("_entry").is_not_null())
            .drop("close_at", "_info_at", "_q")
            .rename({"_entry": "quote_date"})
        )
    else:
        mapped = (
            signals.join(
                by_day.select(pl.col("quote_date").alias("as_of_date"), "day_index"),
                on="as_of_date",
            )
            .with_columns((pl.col("day_index") + lag_sessions).alias("day_index"))
            .join(by_day.select("quote_date", "day_index"), on="day_index")
            .drop("day_index")
        )
    return (
        mapped.with_columns(pl.col("as_of_date").alias("signal_date"))
        .sort("quote_date", *by, "signal_date")
        .group_by("quote_date", *by, maintain_order=True)
        .last()
    )
