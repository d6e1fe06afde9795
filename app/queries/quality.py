"""Queries of the Data quality page: landing validation, dbt test results, rejected rows.

Tables read: ``dq.dq_landing_summary`` (one row per vendor, entity, landing rule and severity),
``dq.test_results`` (one row per dbt data test, latest result), ``dq.dq_landing_rejects`` (one row
per rejected vendor row). Filters from widgets are bound parameters; an empty filter means all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from app.db import read

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
