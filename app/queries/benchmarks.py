"""Queries of the Benchmarks page: the engine's replications of Cboe strategy benchmark indices
against the published levels.

Same rules as :mod:`app.queries`: one short hardened read-only connection per call, values bound
as parameters, numerics cast to ``DOUBLE`` (a ``DECIMAL`` would plot 10^scale too large).

Tables read (dbt marts built by ``make all`` after the benchmark runs,
models_sql/models/forecasts/rpt_benchmark_replication*.sql):
``forecasts.rpt_benchmark_replication`` (one row per benchmark × chain source × session),
``forecasts.rpt_benchmark_replication_summary`` (× period: each year and ``all``) and
``forecasts.rpt_benchmark_replication_cycles`` (× roll cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader
from app.formatting import NOT_AVAILABLE, fmt_pct, fmt_ratio

#: "schema.table" -> columns this module reads (the page checks them before it runs).
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "forecasts.rpt_benchmark_replication": (
        "benchmark_symbol",
        "chain_source",
        "quote_date",
        "run_id",
        "is_normalised_to_published",
        "replicated_level",
        "published_level",
    ),
    "forecasts.rpt_benchmark_replication_summary": (
        "benchmark_symbol",
        "chain_source",
        "period",
        "calendar_year",
        "n_months",
        "replicated_return",
        "published_return",
        "return_difference",
        "monthly_return_correlation",
        "tracking_error_annualised",
    ),
    "forecasts.rpt_benchmark_replication_cycles": (
        "benchmark_symbol",
        "chain_source",
        "cycle_start_date",
        "cycle_end_date",
        "cycle_no",
        "is_complete_cycle",
        "n_sessions",
        "replicated_return",
        "published_return",
        "return_difference",
        "is_within_target",
        "daily_tracking_error_annualised",
    ),
}

#: The product issue's targets (issue 18): monthly correlation and annualised tracking error on
#: modeled years, and the per-cycle cumulative return difference on the real chain (decimals).
TARGET_MONTHLY_CORRELATION = 0.97
TARGET_TRACKING_ERROR = 0.04
TARGET_CYCLE_RETURN_DIFFERENCE = 0.005
#: Column of :func:`cycles_table` saying whether a cycle met that target.
WITHIN_TARGET = f"Within {TARGET_CYCLE_RETURN_DIFFERENCE * 100:g} pp"

_REPLICATIONS_SQL = """
with replications as (
    select
        replication.benchmark_symbol,
        replication.chain_source,
        any_value(replication.run_id) as run_id,
        bool_or(replication.is_normalised_to_published) as has_published_history,
        min(replication.quote_date) as first_date,
        max(replication.quote_date) as last_date,
        count(*) as n_sessions
    from forecasts.rpt_benchmark_replication as replication
    group by replication.benchmark_symbol, replication.chain_source
)

select
    replications.benchmark_symbol,
    replications.chain_source,
    replications.run_id,
    replications.has_published_history,
    replications.first_date,
    replications.last_date,
    replications.n_sessions,
    cast(summary.n_months as integer) as n_months,
    cast(summary.replicated_return as double) as replicated_return,
    cast(summary.published_return as double) as published_return,
    cast(summary.return_difference as double) as return_difference,
    cast(summary.monthly_return_correlation as double) as monthly_return_correlation,
    cast(summary.tracking_error_annualised as double) as tracking_error_annualised
from replications
left join forecasts.rpt_benchmark_replication_summary as summary
    on replications.benchmark_symbol = summary.benchmark_symbol
    and replications.chain_source = summary.chain_source
    and summary.period = 'all'
order by replications.benchmark_symbol, replications.chain_source
"""

_LEVELS_SQL = """
select
    replication.quote_date,
    cast(replication.replicated_level as double) as replicated_level,
    cast(replication.published_level as double) as published_level
from forecasts.rpt_benchmark_replication as replication
where replication.benchmark_symbol = ? and replication.chain_source = ?
order by replication.quote_date
"""

_YEARS_SQL = """
select
    summary.period,
    cast(summary.n_months as integer) as n_months,
    cast(summary.replicated_return as double) as replicated_return,
    cast(summary.published_return as double) as published_return,
    cast(summary.return_difference as double) as return_difference,
    cast(summary.monthly_return_correlation as double) as monthly_return_correlation,
    cast(summary.tracking_error_annualised as double) as tracking_error_annualised
from forecasts.rpt_benchmark_replication_summary as summary
where summary.benchmark_symbol = ? and summary.chain_source = ?
order by summary.calendar_year nulls last
"""

_CYCLES_SQL = """
select
    cast(cycles.cycle_no as integer) as cycle_no,
    cycles.cycle_start_date,
    cycles.cycle_end_date,
    cycles.is_complete_cycle,
    cast(cycles.n_sessions as integer) as n_sessions,
    cast(cycles.replicated_return as double) as replicated_return,
    cast(cycles.published_return as double) as published_return,
    cast(cycles.return_difference as double) as return_difference,
    cycles.is_within_target,
    cast(cycles.daily_tracking_error_annualised as double) as daily_tracking_error_annualised
from forecasts.rpt_benchmark_replication_cycles as cycles
where cycles.benchmark_symbol = ? and cycles.chain_source = ?
order by cycles.cycle_start_date
"""


def replications(db: Path | str) -> pl.DataFrame:
    """Every benchmark × chain source replicated in the published warehouse, with its whole-run
    tracking figures.

    Returns
    -------
    polars.DataFrame
        One row per ``benchmark_symbol`` × ``chain_source`` (ordered by both): ``run_id``,
        ``has_published_history`` (bool), ``first_date``, ``last_date``, ``n_sessions``, and the
        summary's ``period = 'all'`` row: ``n_months`` (int), ``replicated_return``,
        ``published_return``, ``return_difference`` (decimals), ``monthly_return_correlation``
        (in [-1, 1]), ``tracking_error_annualised`` (decimal per year); NULL where the run has
        no whole month or no published history.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return _frame(con, _REPLICATIONS_SQL)


@dataclass(frozen=True)
class Replication:
    """One benchmark × chain source, read through one connection (one snapshot).

    Attributes
    ----------
    levels
        One row per session: ``quote_date``, ``replicated_level`` and ``published_level``
        (index points, floats; published NULL where none is loaded).
    years
        One row per ``period`` (each calendar year, then ``all``): ``n_months`` and the
        summary's returns, correlation and tracking error (floats, decimals).
    cycles
        One row per roll cycle, by ``cycle_start_date``: ``cycle_no``, ``cycle_end_date``,
        ``is_complete_cycle``, ``n_sessions``, cumulative ``replicated_return``,
        ``published_return``, ``return_difference`` (decimals), ``is_within_target``,
        ``daily_tracking_error_annualised``.
    """

    levels: pl.DataFrame
    years: pl.DataFrame
    cycles: pl.DataFrame


def replication(db: Path | str, benchmark_symbol: str, chain_source: str) -> Replication:
    """Levels, yearly summary and roll cycles of one benchmark on one chain (empty frames for a
    pair that is not replicated).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    params = [benchmark_symbol, chain_source]
    with _reader(db) as con:
        return Replication(
            levels=_frame(con, _LEVELS_SQL, params),
            years=_frame(con, _YEARS_SQL, params),
            cycles=_frame(con, _CYCLES_SQL, params),
        )


def years_table(years: pl.DataFrame) -> pl.DataFrame:
    """The yearly summary as displayed: percent strings, ``n/a`` where undefined.

    Parameters
    ----------
    years
        :attr:`Replication.years`.

    Returns
    -------
    polars.DataFrame
        ``Period``, ``Months``, ``Replicated``, ``Published``, ``Difference`` (percent),
        ``Monthly correlation`` (ratio), ``Tracking error`` (percent a year).

    Examples
    --------
    >>> row = {"period": "2019", "n_months": 12, "replicated_return": 0.15,
    ...        "published_return": 0.16, "return_difference": -0.01,
    ...        "monthly_return_correlation": 0.985, "tracking_error_annualised": 0.013}
    >>> years_table(pl.DataFrame([row])).row(0)
    ('2019', 12, '15.00%', '16.00%', '-1.00%', '0.985', '1.30%')
    """
    return pl.DataFrame(
        {
            "Period": years["period"],
            "Months": years["n_months"],
            "Replicated": [fmt_pct(v) for v in years["replicated_return"]],
            "Published": [fmt_pct(v) for v in years["published_return"]],
            "Difference": [fmt_pct(v) for v in years["return_difference"]],
            "Monthly correlation": [
                fmt_ratio(v, digits=3) for v in years["monthly_return_correlation"]
            ],
            "Tracking error": [fmt_pct(v) for v in years["tracking_error_annualised"]],
        },
        schema={
            "Period": pl.String,
            "Months": pl.Int32,
            "Replicated": pl.String,
            "Published": pl.String,
            "Difference": pl.String,
            "Monthly correlation": pl.String,
            "Tracking error": pl.String,
        },
    )


def cycles_table(cycles: pl.DataFrame) -> pl.DataFrame:
    """The roll cycles as displayed: returns in percent, the difference in percentage points.

    Parameters
    ----------
    cycles
        :attr:`Replication.cycles`.

    Returns
    -------
    polars.DataFrame
        ``Cycle``, ``From``, ``To`` (dates), ``Sessions``, ``Replicated``, ``Published``
        (percent strings), ``Difference (pp)`` (percentage points, signed), :data:`WITHIN_TARGET`
        (``yes``/``no``/``n/a``), ``Daily tracking error`` (percent a year); a cut last cycle
        shows ``(to date)`` after its cycle number.

    Examples
    --------
    >>> import datetime as dt
    >>> row = {"cycle_no": 1, "cycle_start_date": dt.date(2019, 6, 21),
    ...        "cycle_end_date": dt.date(2019, 7, 19), "is_complete_cycle": True,
    ...        "n_sessions": 19, "replicated_return": 0.007008, "published_return": 0.009047,
    ...        "return_difference": -0.002039, "is_within_target": True,
    ...        "daily_tracking_error_annualised": 0.0133}
    >>> cycles_table(pl.DataFrame([row])).row(0)[3:]
    (19, '0.70%', '0.90%', '-0.20', 'yes', '1.33%')
    """

    def points(value: float | None) -> str:
        return NOT_AVAILABLE if value is None else f"{value * 100:.2f}"

    def within(value: bool | None) -> str:
        return NOT_AVAILABLE if value is None else ("yes" if value else "no")

    return pl.DataFrame(
        {
            "Cycle": [
                f"{n}" if complete else f"{n} (to date)"
                for n, complete in zip(cycles["cycle_no"], cycles["is_complete_cycle"], strict=True)
            ],
            "From": cycles["cycle_start_date"],
            "To": cycles["cycle_end_date"],
            "Sessions": cycles["n_sessions"],
            "Replicated": [fmt_pct(v) for v in cycles["replicated_return"]],
            "Published": [fmt_pct(v) for v in cycles["published_return"]],
            "Difference (pp)": [points(v) for v in cycles["return_difference"]],
            WITHIN_TARGET: [within(v) for v in cycles["is_within_target"]],
            "Daily tracking error": [fmt_pct(v) for v in cycles["daily_tracking_error_annualised"]],
        },
        schema={
            "Cycle": pl.String,
            "From": pl.Date,
            "To": pl.Date,
            "Sessions": pl.Int32,
            "Replicated": pl.String,
            "Published": pl.String,
            "Difference (pp)": pl.String,
            WITHIN_TARGET: pl.String,
            "Daily tracking error": pl.String,
        },
    )
