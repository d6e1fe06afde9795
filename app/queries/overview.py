"""Queries of the Overview page: what the published warehouse was built from, and its latest runs.

Tables read: ``dq.dq_data_coverage``, ``dq.dq_landing_batches``, ``dq.test_results``,
``ml.model_registry``, ``backtest.runs``, ``backtest.metrics`` (all written by ``make all``) and,
when present, ``dq.dq_landing_refusals`` (:func:`app.queries.quality.read_refused_files`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from app.db import frame, reader
from app.queries.quality import read_refused_files

#: "schema.table" -> columns this page reads.
REQUIRED: dict[str, tuple[str, ...]] = {
    "dq.dq_data_coverage": (
        "dataset",
        "source",
        "symbol",
        "first_date",
        "last_date",
        "n_rows",
        "n_dates",
    ),
    "dq.dq_landing_batches": (
        "vendor",
        "entity",
        "rows_in",
        "rows_landed",
        "rows_rejected",
        "rows_warned",
        "loaded_at",
        "is_current",
    ),
    "dq.test_results": ("severity", "status", "invocation_id", "checked_at"),
}

_COVERAGE_SQL = """
select
    coverage.dataset,
    coverage.source,
    coverage.symbol,
    coverage.first_date,
    coverage.last_date,
    cast(coverage.n_rows as bigint) as n_rows,
    cast(coverage.n_dates as bigint) as n_dates,
from dq.dq_data_coverage as coverage
order by coverage.dataset, coverage.source, coverage.symbol
"""

_LOADS_SQL = """
select
    batches.vendor,
    batches.entity,
    count(*) as n_batches,
    cast(sum(batches.rows_in) as bigint) as rows_in,
    cast(sum(batches.rows_landed) as bigint) as rows_landed,
    cast(sum(batches.rows_rejected) as bigint) as rows_rejected,
    cast(sum(batches.rows_warned) as bigint) as rows_warned,
    max(batches.loaded_at) as last_loaded_at,
from dq.dq_landing_batches as batches
where batches.is_current
group by all
order by batches.vendor, batches.entity
"""

_TESTS_SQL = """
select
    test_results.severity,
    test_results.status,
    count(*) as n_tests,
from dq.test_results as test_results
group by all
order by test_results.severity, test_results.status
"""

_BUILD_SQL = """
select
    min(test_results.checked_at) as first_checked_at,
    max(test_results.checked_at) as last_checked_at,
    count(distinct test_results.invocation_id) as n_invocations,
from dq.test_results as test_results
"""

_TABLES_SQL = """
select tables.table_schema || '.' || tables.table_name as relation
from information_schema.tables as tables
where tables.table_schema in ('ml', 'backtest')
"""

_MODELS_SQL = """
select
    registry.model_name,
    registry.model_version,
    registry.task,
    registry.estimator,
    registry.underlying_symbol,
    registry.train_start_date,
    registry.train_end_date,
    cast(registry.n_train_rows as bigint) as n_train_rows,
    registry.test_start_date,
    registry.test_end_date,
from ml.model_registry as registry
where registry.is_current
order by registry.model_name, registry.underlying_symbol
"""

_BACKTESTS_SQL = """
select
    runs.run_id,
    runs.strategy,
    runs.underlying_symbol,
    runs.first_date,
    runs.last_date,
    cast(metrics.n_trades as bigint) as n_trades,
    cast(metrics.total_return as double) as total_return,
    cast(metrics.sharpe_ratio as double) as sharpe_ratio,
    cast(metrics.max_drawdown as double) as max_drawdown,
from backtest.runs as runs
left join backtest.metrics as metrics
    on runs.run_id = metrics.run_id
order by runs.last_date desc, runs.run_id
"""


@dataclass(frozen=True)
class Overview:
    """Everything the Overview page shows, read through one connection (one snapshot).

    Attributes
    ----------
    coverage
        One row per dataset, source and symbol (``dq.dq_data_coverage``): ``first_date``,
        ``last_date``, ``n_rows``, ``n_dates``.
    loads
        One row per vendor and entity over the current landing batches: ``n_batches``,
        ``rows_in``, ``rows_landed``, ``rows_rejected``, ``rows_warned`` (row counts),
        ``last_loaded_at`` (UTC timestamp).
    tests
        One row per severity and status of the latest dbt test results: ``n_tests``.
    build
        One row: ``first_checked_at``/``last_checked_at`` (UTC) of the dbt test results and the
        number of dbt invocations they come from.
    models
        One row per current model run in ``ml.model_registry`` (empty when ml has not run).
    backtests
        One row per backtest run with its headline metrics, newest first (empty when none).
    refused
        One row per vendor file the latest load refused (nothing of it landed): ``source_file``,
        ``layout``, ``reason``, ``refused_at`` (UTC); empty when none was.
    """

    coverage: pl.DataFrame
    loads: pl.DataFrame
    tests: pl.DataFrame
    build: pl.DataFrame
    models: pl.DataFrame
    backtests: pl.DataFrame
    refused: pl.DataFrame = field(default_factory=pl.DataFrame)


def read_overview(db: Path | str) -> Overview:
    """Read the Overview page's tables from the published warehouse ``db``.

    ``ml`` and ``backtest`` are optional (a warehouse built with ``dbt build`` only has neither):
    their frames are then empty with no columns.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When a ``dq`` table of :data:`REQUIRED` is missing.
    """
    with reader(db) as con:
        relations = set(frame(con, _TABLES_SQL).get_column("relation").to_list())
        has_models = "ml.model_registry" in relations
        has_backtests = {"backtest.runs", "backtest.metrics"} <= relations
        return Overview(
            coverage=frame(con, _COVERAGE_SQL),
            loads=frame(con, _LOADS_SQL),
            tests=frame(con, _TESTS_SQL),
            build=frame(con, _BUILD_SQL),
            models=frame(con, _MODELS_SQL) if has_models else pl.DataFrame(),
            backtests=frame(con, _BACKTESTS_SQL) if has_backtests else pl.DataFrame(),
            refused=read_refused_files(con),
        )
