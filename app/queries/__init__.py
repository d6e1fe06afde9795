"""Read-only queries of the Backtest page; the page-specific modules of this package
(``overview``, ``quality``, ``chains``, ``features``, ``models``, ``forecasts``, ``attribution``,
``compare``) hold the other pages' queries. Only this package and :mod:`app.db` touch DuckDB.

Every public function opens the published database read-only (hardened: :mod:`app.db`), runs
its statements and closes the connection before returning (FIELD_NOTES: a held read lock blocks
writers, and a DuckDB connection is not thread-safe, so none is ever cached). Values are bound
as parameters; no identifier comes from the user. Numeric columns are cast to ``DOUBLE`` so
charts never receive ``DECIMAL``s; the per-run reads of ``trades``, ``legs`` (here) and
``positions_daily`` (:mod:`app.queries.trade_detail`) are built by :func:`run_rows_sql`, their
casts taken once from the engine's schema (:data:`READ_TYPES`).

Tables read (schema ``backtest``, written by the engine): ``runs``, ``trades``, ``legs``,
``equity_daily`` (with the portfolio's dollar greeks), ``metrics``. Their expected columns are
:data:`EXPECTED_COLUMNS`; ``runs.chain_source`` and ``runs.chain_model_version`` (the option
chain a run traded: real market quotes or the modeled chain) are read where present
(:func:`run_chains`): a ``runs`` table written before chain sources existed holds real-chain
runs only. :func:`backtest_choices` also lists the entry universes (``marts``)
and the current forecast models (``ml.model_registry``) the Backtest page's form offers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader
from app.db import user_sql_reader as _user_sql_reader
from engine.schema import LEGS_SCHEMA, POSITIONS_SCHEMA, TRADES_SCHEMA
from warehouse.sql import SqlLimits, StatementRefused, StatementStopped, run_statement

#: Columns the app reads from each ``backtest`` table (the engine may add more; extras are ignored).
EXPECTED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "runs": (
        "run_id",
        "strategy",
        "underlying_symbol",
        "forecast_model",
        "model_version",
        "config_json",
        "first_date",
        "last_date",
    ),
    "trades": (
        "run_id",
        "trade_id",
        "strategy",
        "underlying_symbol",
        "expiration",
        "lots",
        "entry_date",
        "exit_date",
        "holding_days_actual",
        "exit_reason",
        "settlement_method",
        "signal_value",
        "entry_underlying_price",
        "entry_value",
        "exit_value",
        "commission_usd",
        "pnl_usd",
        "trade_return",
    ),
    "equity_daily": (
        "run_id",
        "quote_date",
        "cash_usd",
        "positions_value_usd",
        "equity_usd",
        "daily_return",
        "drawdown",
        "open_positions",
        "delta_usd",
        "gamma_usd",
        "vega_usd",
        "theta_usd",
    ),
    "legs": (
        "run_id",
        "trade_id",
        "leg_no",
        "contract_symbol",
        "leg_type",
        "strike",
        "expiration",
        "quantity",
        "entry_date",
        "entry_price",
        "entry_mid",
        "exit_date",
        "exit_price",
        "exit_mid",
        "exit_kind",
        "settlement_method",
        "settlement_price",
    ),
    "metrics": (
        "run_id",
        "total_return",
        "cagr",
        "sharpe_ratio",
        "sortino_ratio",
        "max_drawdown",
        "win_rate",
        "n_trades",
        "avg_trade_pnl_usd",
        "first_date",
        "last_date",
    ),
}

_LIST_RUNS_SQL = """
select
    runs.run_id,
    runs.strategy,
    runs.underlying_symbol,
    runs.forecast_model,
    runs.model_version,
    runs.first_date,
    runs.last_date
from backtest.runs as runs
order by runs.run_id
"""

_RUN_CONFIG_SQL = """
select runs.config_json
from backtest.runs as runs
where runs.run_id = ?
"""

_RUN_METRICS_SQL = """
select
    metrics.run_id,
    cast(metrics.total_return as double) as total_return,
    cast(metrics.cagr as double) as cagr,
    cast(metrics.sharpe_ratio as double) as sharpe_ratio,
    cast(metrics.sortino_ratio as double) as sortino_ratio,
    cast(metrics.max_drawdown as double) as max_drawdown,
    cast(metrics.win_rate as double) as win_rate,
    cast(metrics.n_trades as integer) as n_trades,
    cast(metrics.avg_trade_pnl_usd as double) as avg_trade_pnl_usd,
    metrics.first_date,
    metrics.last_date
from backtest.metrics as metrics
where metrics.run_id = ?
"""

_EQUITY_CURVE_SQL = """
select
    equity_daily.quote_date,
    cast(equity_daily.cash_usd as double) as cash_usd,
    cast(equity_daily.positions_value_usd as double) as positions_value_usd,
    cast(equity_daily.equity_usd as double) as equity_usd,
    cast(equity_daily.daily_return as double) as daily_return,
    cast(equity_daily.drawdown as double) as drawdown,
    cast(equity_daily.open_positions as integer) as open_positions,
    cast(equity_daily.delta_usd as double) as delta_usd,
    cast(equity_daily.gamma_usd as double) as gamma_usd,
    cast(equity_daily.vega_usd as double) as vega_usd,
    cast(equity_daily.theta_usd as double) as theta_usd
from backtest.equity_daily as equity_daily
where equity_daily.run_id = ?
order by equity_daily.quote_date
"""

#: SQL type of each engine dtype a per-run column is cast to when read.
_SQL_TYPES: Mapping[str, str] = {"Float64": "double", "Int64": "bigint", "Int32": "integer"}
#: Ids, read as stored.
_ID_COLUMNS = ("run_id", "trade_id")


def _read_types(schema: Mapping[str, pl.DataType]) -> dict[str, str]:
    return {
        column: _SQL_TYPES[str(dtype)]
        for column, dtype in schema.items()
        if column not in _ID_COLUMNS and str(dtype) in _SQL_TYPES
    }


#: The SQL type a numeric column of a per-run ``backtest`` table is read as: the engine's own
#: dtype of it (engine/schema.py, the one definition of these tables), so prices, USD amounts and
#: ratios come back as ``DOUBLE`` (never a ``DECIMAL``, which plots 10^scale too large:
#: FIELD_NOTES) and counts as the engine writes them (``leg_no`` INTEGER, the others BIGINT).
#: Ids, dates, labels and flags are read as stored. The Backtest page's :func:`trades` /
#: :func:`legs` and the Trades page (:mod:`app.queries.trade_detail`) read their columns through
#: :func:`run_rows_sql` with these types.
READ_TYPES: Mapping[str, Mapping[str, str]] = {
    "trades": _read_types(TRADES_SCHEMA),
    "legs": _read_types(LEGS_SCHEMA),
    "positions_daily": _read_types(POSITIONS_SCHEMA),
}


def run_rows_sql(table: str, columns: Sequence[str], order_by: Sequence[str]) -> str:
    """The statement that reads one run's rows of ``backtest.<table>``, ``run_id`` bound as ``$1``.

    Parameters
    ----------
    table
        A key of :data:`READ_TYPES` (``trades``, ``legs``, ``positions_daily``).
    columns
        Columns to select, in order (module constants, never user text); each is cast to its
        :data:`READ_TYPES` type and keeps its name.
    order_by
        Columns of the row order.

    Raises
    ------
    ValueError
        When ``table`` is not a key of :data:`READ_TYPES`, or a column name is not an identifier.

    >>> print(run_rows_sql("legs", ("trade_id", "strike"), ("trade_id",)))
    select
        legs.trade_id,
        cast(legs.strike as double) as strike
    from backtest.legs as legs
    where legs.run_id = $1
    order by legs.trade_id
    """
    if table not in READ_TYPES:
        raise ValueError(f"table must be one of {sorted(READ_TYPES)}, got {table!r}")
    bad = [c for c in (*columns, *order_by) if not c.isidentifier()]
    if bad:
        raise ValueError(f"column names must be identifiers, got {bad!r}")
    types = READ_TYPES[table]
    select = ",\n    ".join(
        f"cast({table}.{c} as {types[c]}) as {c}" if c in types else f"{table}.{c}" for c in columns
    )
    order = ", ".join(f"{table}.{c}" for c in order_by)
    return (
        f"select\n    {select}\nfrom backtest.{table} as {table}\n"
        f"where {table}.run_id = $1\norder by {order}"
    )


def _run_columns(table: str) -> tuple[str, ...]:
    """The Backtest page's columns of ``backtest.<table>`` but ``run_id``, in order."""
    return tuple(c for c in EXPECTED_COLUMNS[table] if c != "run_id")


_TRADES_SQL = run_rows_sql("trades", _run_columns("trades"), ("entry_date", "trade_id"))
_LEGS_SQL = run_rows_sql("legs", _run_columns("legs"), ("trade_id", "leg_no"))

_RUNS_CHAIN_COLUMNS_SQL = """
select count(*) = 2 as has_chain_columns
from information_schema.columns as columns
where columns.table_schema = 'backtest'
    and columns.table_name = 'runs'
    and columns.column_name in ('chain_source', 'chain_model_version')
"""

# {chain} is one of the two fragments of _chain_columns, never user text
_RUN_CHAINS_SQL = """
select
    runs.run_id,
    {chain}
from backtest.runs as runs
where $1::varchar is null or runs.run_id = $1::varchar
order by runs.run_id
"""

#: What a run on the modeled chain says wherever it is shown (:func:`chain_caption`).
MODELED_CHAIN_NOTE = (
    "Quotes are MODELED ({version}), not real market quotes: the run's fills, marks and P&L "
    "are model prices (marts.fct_option_quotes_modeled, warehouse/modeled_chain)."
)

_RELATIONS_SQL = """
select tables.table_schema || '.' || tables.table_name as relation
from information_schema.tables as tables
where tables.table_schema in ('marts', 'ml')
"""

_UNIVERSE_PREFIX = "marts.fct_option_universe_"

_CURRENT_MODELS_SQL = """
select distinct model_registry.model_name
from ml.model_registry as model_registry
where model_registry.is_current and model_registry.underlying_symbol = ?
order by model_registry.model_name
"""


@dataclass(frozen=True)
class RunDetail:
    """Everything the backtest page shows for one run, read in one connection (one snapshot).

    Attributes
    ----------
    metrics
        Zero or one row of ``backtest.metrics`` (see :func:`run_metrics`).
    equity
        One row per ``quote_date`` (see :func:`equity_curve`).
    trades
        One row per trade (see :func:`trades`).
    config_json
        The run's configuration as stored by the engine, or ``None`` when the run is unknown.
    legs
        One row per trade per leg: its contract and fills (see :func:`legs`).
    chain_source, chain_model_version
        The option chain the run traded (see :func:`run_chains`); ``real`` and ``None`` when
        the run is unknown.
    """

    metrics: pl.DataFrame
    equity: pl.DataFrame
    trades: pl.DataFrame
    config_json: str | None
    legs: pl.DataFrame
    chain_source: str = "real"
    chain_model_version: str | None = None


def _chain_columns(con: duckdb.DuckDBPyConnection) -> str:
    """The select-list fragment of a run's chain: the columns where ``backtest.runs`` has them,
    else ``'real'`` (an engine that predates chain sources read the real chain only)."""
    if _frame(con, _RUNS_CHAIN_COLUMNS_SQL).item(0, 0):
        return "coalesce(runs.chain_source, 'real') as chain_source,\n    runs.chain_model_version"
    return "'real' as chain_source,\n    cast(null as varchar) as chain_model_version"


def _run_chains(con: duckdb.DuckDBPyConnection, run_id: str | None) -> pl.DataFrame:
    return _frame(con, _RUN_CHAINS_SQL.format(chain=_chain_columns(con)), [run_id])


def run_chains(db: Path | str) -> pl.DataFrame:
    """The option chain each run of the published warehouse traded.

    Returns
    -------
    polars.DataFrame
        One row per run, ordered by ``run_id``: ``run_id``, ``chain_source`` (``real`` |
        ``modeled``), ``chain_model_version`` (the modeled chain's model, e.g. ``ssvi-1``;
        null on the real chain). Runs of a ``backtest.runs`` without these columns (written
        before chain sources existed) are ``real``.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When ``backtest.runs`` does not exist.
    """
    with _reader(db) as con:
        return _run_chains(con, None)


def chain_label(chain_source: str | None, chain_model_version: str | None) -> str:
    """Short label of a run's chain for pickers and tables.

    >>> chain_label("modeled", "ssvi-1"), chain_label("real", None), chain_label(None, None)
    ('modeled chain ssvi-1', 'real chain', 'chain unknown')
    """
    if chain_source == "modeled":
        return f"modeled chain {chain_model_version or '(model unknown)'}"
    return "real chain" if chain_source == "real" else "chain unknown"


def chain_caption(chain_source: str | None, chain_model_version: str | None) -> str:
    """The sentence shown with a run: where its quotes came from.

    >>> chain_caption("real", None)
    'Chain: real market quotes (marts.fct_option_features).'
    """
    if chain_source == "modeled":
        return MODELED_CHAIN_NOTE.format(version=f"model {chain_model_version or 'unknown'}")
    if chain_source == "real":
        return "Chain: real market quotes (marts.fct_option_features)."
    return "Chain: not recorded (the run has no row in backtest.runs)."


def list_runs(db: Path | str) -> pl.DataFrame:
    """List the backtest runs of the published warehouse.

    Parameters
    ----------
    db
        Published DuckDB file.

    Returns
    -------
    polars.DataFrame
        One row per run, ordered by ``run_id``: ``run_id``, ``strategy``, ``underlying_symbol``,
        ``forecast_model``, ``model_version`` (strings), ``first_date``, ``last_date`` (dates).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    duckdb.CatalogException
        When ``backtest.runs`` does not exist.
    """
    with _reader(db) as con:
        return _frame(con, _LIST_RUNS_SQL)


def run_metrics(db: Path | str, run_id: str) -> pl.DataFrame:
    """Summary metrics of one run.

    Parameters
    ----------
    db
        Published DuckDB file.
    run_id
        Run to read (bound as a parameter).

    Returns
    -------
    polars.DataFrame
        Zero rows (unknown run) or one: ``total_return``, ``cagr``, ``max_drawdown``, ``win_rate``
        as decimal fractions (0.12 = 12 %; ``max_drawdown`` <= 0), ``sharpe_ratio`` and
        ``sortino_ratio`` annualised and unitless, ``n_trades`` (int), ``avg_trade_pnl_usd``,
        ``first_date``, ``last_date``. Degenerate metrics are NaN, as the engine wrote them.
    """
    with _reader(db) as con:
        return _frame(con, _RUN_METRICS_SQL, [run_id])


def equity_curve(db: Path | str, run_id: str) -> pl.DataFrame:
    """Daily equity of one run.

    Returns
    -------
    polars.DataFrame
        One row per ``quote_date`` (ascending): ``cash_usd``, ``positions_value_usd``,
        ``equity_usd`` (USD, float), ``daily_return`` (decimal, noncumulative), ``drawdown``
        (decimal, <= 0, from the running peak of ``equity_usd``), ``open_positions`` (int), and
        the open positions' dollar greeks (USD, float): ``delta_usd`` (per 1 point of the
        underlying × its price), ``gamma_usd`` (per 1 % move), ``vega_usd`` (per vol point),
        ``theta_usd`` (per calendar day).
    """
    with _reader(db) as con:
        return _frame(con, _EQUITY_CURVE_SQL, [run_id])


def trades(db: Path | str, run_id: str) -> pl.DataFrame:
    """Closed trades of one run.

    Returns
    -------
    polars.DataFrame
        One row per ``trade_id``, ordered by ``entry_date`` then ``trade_id``; the columns of
        ``backtest.trades`` without ``run_id``. Prices and ``*_usd`` columns are float USD,
        ``trade_return`` and ``signal_value`` (a probability, or a score) are decimal fractions;
        ``entry_value``/``exit_value`` are net premium per lot in index points (+ debit).
    """
    with _reader(db) as con:
        return _frame(con, _TRADES_SQL, [run_id])


def legs(db: Path | str, run_id: str) -> pl.DataFrame:
    """The legs of one run's trades.

    Returns
    -------
    polars.DataFrame
        One row per ``trade_id`` and ``leg_no`` (ordered so): ``contract_symbol``, ``leg_type``
        (``call``/``put``/``stock``), ``strike`` (index points), ``quantity`` (signed units:
        contracts or shares), fills ``entry_price``/``exit_price`` and the mids beside them
        (index points per unit), ``exit_kind`` (traded, settled, exercised, ...),
        ``settlement_method`` and ``settlement_price`` (null for a traded exit).
    """
    with _reader(db) as con:
        return _frame(con, _LEGS_SQL, [run_id])


@dataclass(frozen=True)
class BacktestChoices:
    """What the Backtest page's form may offer, from the published warehouse.

    Attributes
    ----------
    universes
        ``"default"`` then the names ``<name>`` of every ``marts.fct_option_universe_<name>``.
    models
        Current forecast models (``ml.model_registry.is_current``) of the underlying, sorted;
        empty when the warehouse has no ``ml`` tables.
    """

    universes: tuple[str, ...]
    models: tuple[str, ...]


def backtest_choices(db: Path | str, underlying_symbol: str) -> BacktestChoices:
    """Entry universes and current forecast models of the published warehouse (one connection).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        relations = set(_frame(con, _RELATIONS_SQL)["relation"].to_list())
        universes = sorted(
            r.removeprefix(_UNIVERSE_PREFIX) for r in relations if r.startswith(_UNIVERSE_PREFIX)
        )
        models: list[str] = []
        if "ml.model_registry" in relations:
            models = _frame(con, _CURRENT_MODELS_SQL, [underlying_symbol])["model_name"].to_list()
    return BacktestChoices(("default", *universes), tuple(models))


def run_detail(db: Path | str, run_id: str) -> RunDetail:
    """Metrics, equity curve, trades, legs and config of one run, read through one connection.

    One connection means one snapshot: a publish (``os.replace`` of the file) between two
    separate reads could otherwise mix two versions of the warehouse on one page.

    Parameters
    ----------
    db
        Published DuckDB file.
    run_id
        Run to read (bound as a parameter).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        config = _frame(con, _RUN_CONFIG_SQL, [run_id])
        chain = _run_chains(con, run_id)
        return RunDetail(
            metrics=_frame(con, _RUN_METRICS_SQL, [run_id]),
            equity=_frame(con, _EQUITY_CURVE_SQL, [run_id]),
            trades=_frame(con, _TRADES_SQL, [run_id]),
            config_json=config.item(0, 0) if config.height else None,
            legs=_frame(con, _LEGS_SQL, [run_id]),
            chain_source=chain.item(0, "chain_source") if chain.height else "real",
            chain_model_version=chain.item(0, "chain_model_version") if chain.height else None,
        )


@dataclass(frozen=True)
class SqlResult:
    """Outcome of one console statement: rows (at most the limit) or an error message."""

    frame: pl.DataFrame | None
    truncated: bool
    error: str | None


def run_readonly_sql(
    db: Path | str, sql: str, max_rows: int, limits: SqlLimits | None = None
) -> SqlResult:
    """Run one user-written statement on the published warehouse, bounded and read-only.

    Parameters
    ----------
    sql
        Exactly one query (a trailing ``;`` is fine); what else is refused, and why, is in
        :mod:`warehouse.sql`.
    max_rows
        Rows returned at most, in [1, :data:`warehouse.sql.MAX_ROWS_CEILING`]; ``truncated`` says
        whether more existed.
    limits
        Time, memory, threads and statement size (default :meth:`SqlLimits.from_env`: the
        ``WAREHOUSE_SQL_*`` variables, else 30 s, 1024 MiB, 1 thread, 100,000 bytes).

    Returns
    -------
    SqlResult
        The rows, or the message of a refusal (size, kind, a file), of a limit hit (time,
        memory) or of the database (a syntax error, a missing table); never raises for bad SQL.

    Raises
    ------
    FileNotFoundError, duckdb.IOException
        When the published file is missing or locked (the page explains both).
    """
    limits = limits or SqlLimits.from_env()
    with _user_sql_reader(db, limits) as con:
        try:
            frame, truncated = run_statement(con, sql, max_rows, limits)
        except (StatementRefused, StatementStopped, duckdb.Error) as exc:
            return SqlResult(None, False, str(exc))
    return SqlResult(pl.DataFrame() if frame is None else frame, truncated, None)


_CATALOGUE_SQL = """
select
    tables.schema_name,
    tables.table_name as relation,
    'table' as kind,
    cast(tables.estimated_size as bigint) as estimated_rows,
    cast(tables.column_count as bigint) as n_columns,
from duckdb_tables() as tables
where tables.database_name = current_database() and tables.schema_name <> 'dq_failures'
union all
select
    views.schema_name,
    views.view_name as relation,
    'view' as kind,
    null as estimated_rows,
    cast(views.column_count as bigint) as n_columns,
from duckdb_views() as views
where views.database_name = current_database() and not views.internal
order by schema_name, relation
"""


def list_relations(db: Path | str) -> pl.DataFrame:
    """Tables and views of the published warehouse, for the SQL page's catalogue.

    Returns
    -------
    polars.DataFrame
        One row per relation: ``schema_name``, ``relation``, ``kind`` (table/view),
        ``estimated_rows`` (DuckDB's estimate; NULL for views), ``n_columns``. The stored
        failing rows of each dbt test (schema ``dq_failures``) are left out.
    """
    with _reader(db) as con:
        return _frame(con, _CATALOGUE_SQL)
