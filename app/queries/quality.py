"""Queries of the Data quality page: landing validation, dbt test results, rejected rows,
refused vendor files.

Tables read: ``dq.dq_landing_summary`` (one row per vendor, entity, landing rule and severity),
``dq.test_results`` (one row per dbt data test, latest result), ``dq.dq_landing_rejects`` (one row
per rejected vendor row) and, when present, ``dq.dq_landing_refusals`` (one row per vendor file
the latest load refused; a warehouse published before issue 16 lacks it, and then shows none).
Filters from widgets are bound parameters; an empty filter means all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from app.db import frame, read, reader

REQUIRED: dict[str, tuple[str, ...]] = {
    "dq.dq_landing_summary": (
        "vendor",
        "entity",
        "rule",
        "severity",
        "failing_rows",
        "n_batches",
        "example_rows",
        "last_loaded_at",
    ),
    "dq.test_results": (
        "test_name",
        "category",
        "target_model",
        "target_columns",
        "severity",
        "status",
        "failures",
        "message",
        "checked_at",
    ),
    "dq.dq_landing_rejects": (
        "vendor",
        "entity",
        "rule",
        "source_file",
        "source_line",
        "row_json",
        "loaded_at",
        "is_current",
    ),
}

#: The refused vendor files (issue 16), read when the published warehouse has them.
REFUSED_TABLE = "dq.dq_landing_refusals"

_HAS_REFUSED_SQL = """
select count(*) as n
from information_schema.columns as columns
where columns.table_schema = 'dq'
    and columns.table_name = 'dq_landing_refusals'
    and columns.column_name in ('source_file', 'layout', 'reason', 'refused_at')
"""

_REFUSED_SQL = """
select
    refusals.source_file,
    coalesce(refusals.layout, '(none)') as layout,
    refusals.reason,
    refusals.refused_at,
from dq.dq_landing_refusals as refusals
order by refusals.source_file
"""

_NO_REFUSED = {
    "source_file": pl.String,
    "layout": pl.String,
    "reason": pl.String,
    "refused_at": pl.Datetime("us", "UTC"),
}

_LANDING_SQL = """
select
    summary.vendor,
    summary.entity,
    summary.rule,
    summary.severity,
    cast(summary.failing_rows as bigint) as failing_rows,
    cast(summary.n_batches as bigint) as n_batches,
    summary.last_loaded_at,
    summary.example_rows,
from dq.dq_landing_summary as summary
order by summary.severity, summary.failing_rows desc, summary.vendor, summary.entity, summary.rule
"""

_TEST_COUNTS_SQL = """
select
    test_results.severity,
    test_results.status,
    test_results.category,
    count(*) as n_tests,
from dq.test_results as test_results
group by all
order by all
"""

_TESTS_SQL = """
select
    test_results.status,
    test_results.severity,
    test_results.category,
    test_results.test_name,
    test_results.target_model,
    test_results.target_columns,
    cast(test_results.failures as bigint) as failures,
    test_results.message,
    test_results.checked_at,
from dq.test_results as test_results
where (len(?::varchar[]) = 0 or test_results.status in (select unnest(?::varchar[])))
    and (len(?::varchar[]) = 0 or test_results.severity in (select unnest(?::varchar[])))
order by
    case test_results.status when 'fail' then 0 when 'error' then 1 when 'warn' then 2 else 3 end,
    test_results.failures desc,
    test_results.test_name
"""

_REJECTS_SQL = """
select
    rejects.vendor,
    rejects.entity,
    rejects.rule,
    rejects.source_file,
    cast(rejects.source_line as bigint) as source_line,
    rejects.row_json,
    rejects.loaded_at,
from dq.dq_landing_rejects as rejects
where rejects.is_current
    and (? is null or rejects.rule = ?)
order by rejects.vendor, rejects.entity, rejects.source_file, rejects.source_line, rejects.rule
"""


def landing_summary(db: Path | str) -> pl.DataFrame:
    """Landing validation results: one row per vendor, entity, rule and severity that any row of
    a current batch broke, with ``failing_rows`` (count), ``n_batches`` and up to five example
    rows (``file:line {json}``). Severity ``error`` rejected the rows; ``warning`` landed them
    flagged."""
    return read(db, _LANDING_SQL)


def dbt_test_counts(db: Path | str) -> pl.DataFrame:
    """dbt data tests by ``severity``, ``status`` (pass/warn/fail/error) and ``category``:
    ``n_tests``."""
    return read(db, _TEST_COUNTS_SQL)


def dbt_test_results(
    db: Path | str, statuses: Sequence[str] = (), severities: Sequence[str] = ()
) -> pl.DataFrame:
    """The latest result of each dbt data test, worst first.

    Parameters
    ----------
    statuses, severities
        Keep only these values (bound parameters); empty keeps all.

    Returns
    -------
    polars.DataFrame
        One row per test: ``status``, ``severity``, ``category``, ``test_name``,
        ``target_model``, ``target_columns``, ``failures`` (failing rows), ``message``,
        ``checked_at`` (UTC).
    """
    statuses, severities = list(statuses), list(severities)
    return read(db, _TESTS_SQL, [statuses, statuses, severities, severities])


def rejected_rows(db: Path | str, rule: str | None = None) -> pl.DataFrame:
    """Vendor rows rejected at landing (current batches), with the rule that rejected each.

    Parameters
    ----------
    rule
        Keep only this rule (bound parameter); ``None`` keeps all.

    Returns
    -------
    polars.DataFrame
        One row per rejected row: ``vendor``, ``entity``, ``rule``, ``source_file``,
        ``source_line`` (1 = first data line), ``row_json`` (the row as sent), ``loaded_at``.
    """
    return read(db, _REJECTS_SQL, [rule, rule])


def read_refused_files(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The vendor files the latest load refused, on an open reader (see :func:`refused_files`)."""
    if frame(con, _HAS_REFUSED_SQL).item(0, "n") < 4:
        return pl.DataFrame(schema=_NO_REFUSED)
    return frame(con, _REFUSED_SQL)


def refused_files(db: Path | str) -> pl.DataFrame:
    """Vendor files the latest load refused: nothing of them landed (issue 16).

    Returns
    -------
    polars.DataFrame
        One row per file, by path: ``source_file`` (relative to the vendor folder), ``layout``
        (the layout that claimed it, ``(none)`` when none did), ``reason`` and ``refused_at``
        (UTC). Empty when nothing was refused, or when the published warehouse predates
        :data:`REFUSED_TABLE`.
    """
    with reader(db) as con:
        return read_refused_files(con)
