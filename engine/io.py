"""The engine's only I/O: read marts and forecasts from the build DuckDB, write ``backtest.*``.

Reads push the run's filters (underlying, roots, model) into SQL and select only the columns in
:mod:`engine.schema`. Writes replace the rows of one ``run_id`` in all four output tables inside
one transaction, so a rerun of the same config is idempotent and a failed write leaves the
previous rows in place.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import polars as pl

from engine.config import StraddleConfig
from engine.schema import (
    FORECAST_COLUMNS,
    OUTPUT_TABLES,
    QUOTE_COLUMNS,
    UNDERLYING_COLUMNS,
    UNIVERSE_COLUMNS,
    conform,
)
from engine.straddle import BacktestResult
from warehouse.paths import connect

OUTPUT_SCHEMA = "backtest"

_MARTS_HINT = "run `make all` (the dbt build of the marts) first"

#: Engine column -> warehouse column it is read from (ml.predictions names it p_up).
SOURCE_NAMES: dict[str, str] = {"prob_up": "p_up"}

#: Input table -> (columns the engine reads, how to create the table when it is missing).
INPUT_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "marts.fct_option_quotes_daily": (QUOTE_COLUMNS, _MARTS_HINT),
    "marts.fct_option_quotes_universe": (UNIVERSE_COLUMNS, _MARTS_HINT),
    "marts.fct_underlying_daily": (UNDERLYING_COLUMNS, _MARTS_HINT),
    "ml.predictions": (
        ("run_id", "model_name", "model_version", "underlying_symbol", "as_of_date", "p_up"),
        "run `python -m ml train` first",
    ),
    "ml.model_registry": (
        ("run_id", "model_name", "underlying_symbol", "is_current"),
        "run `python -m ml train` first",
    ),
}

_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Float64: "DOUBLE",
    pl.Date: "DATE",
}


class MissingTableError(LookupError):
    """An input table or one of its columns is not in the database."""


@dataclasses.dataclass(frozen=True)
class BacktestInputs:
    """The four input frames of :func:`engine.straddle.run_backtest`, already filtered."""

    quotes: pl.LazyFrame
    universe: pl.LazyFrame
    underlying: pl.LazyFrame
    forecasts: pl.LazyFrame


def open_database(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open the existing build database read-write (house settings via ``connect``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist: opening would silently create an empty database.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"warehouse database not found: {path} ({_MARTS_HINT})")
    return connect(path)


def check_input_tables(con: duckdb.DuckDBPyConnection, db_path: Path | str) -> None:
    """Raise when an input table or a column the engine reads is missing.

    Raises
    ------
    MissingTableError
        Naming the table (or its missing columns), the database and the command that builds it.
    """
    rows = con.sql(
        "select table_schema || '.' || table_name as table_ref, column_name "
        "from information_schema.columns"
    ).pl()
    present = rows.group_by("table_ref").agg(pl.col("column_name")).rows()
    columns_of = {table: set(cols) for table, cols in present}
    for table, (required, hint) in INPUT_TABLES.items():
        if table not in columns_of:
            raise MissingTableError(f"table {table} not found in {db_path}: {hint}")
        missing = [c for c in required if c not in columns_of[table]]
        if missing:
            raise MissingTableError(f"table {table} in {db_path} lacks column(s) {missing}: {hint}")


def load_inputs(
    con: duckdb.DuckDBPyConnection, cfg: StraddleConfig, *, db_path: Path | str
) -> BacktestInputs:
    """Read the run's slice of the marts and forecasts.

    Quotes keep every root of the underlying (their dates are the trading calendar); the
    universe keeps ``cfg.option_roots``; forecasts keep ``cfg.forecast_model``.

    Raises
    ------
    MissingTableError
        See :func:`check_input_tables`.
    """
    check_input_tables(con, db_path)

    def read(table: str, columns: tuple[str, ...], where: str, params: list) -> pl.LazyFrame:
        # Table and column names come from engine.schema (an allowlist); values are bound.
        selected = [f"{SOURCE_NAMES[c]} as {c}" if c in SOURCE_NAMES else c for c in columns]
        sql = f"select {', '.join(selected)} from {table} where {where}"
        return con.sql(sql, params=params).pl().lazy()

    symbol = cfg.underlying_symbol
    return BacktestInputs(
        quotes=read(
            "marts.fct_option_quotes_daily", QUOTE_COLUMNS, "underlying_symbol = ?", [symbol]
        ),
        universe=read(
            "marts.fct_option_quotes_universe",
            UNIVERSE_COLUMNS,
            "underlying_symbol = ? and list_contains(?, option_root)",
            [symbol, list(cfg.option_roots)],
        ),
        underlying=read(
            "marts.fct_underlying_daily", UNDERLYING_COLUMNS, "underlying_symbol = ?", [symbol]
        ),
        # the current training run of the model only (earlier runs stay in the registry)
        forecasts=read(
            "ml.predictions",
            FORECAST_COLUMNS,
            "model_name = ? and underlying_symbol = ? and run_id in (select run_id from "
            "ml.model_registry where is_current and model_name = ? and underlying_symbol = ?)",
            [cfg.forecast_model, symbol, cfg.forecast_model, symbol],
        ),
    )


def _ddl(table: str, schema: dict[str, pl.DataType], key: tuple[str, ...]) -> str:
    columns = ", ".join(f"{name} {_DUCKDB_TYPES[type(dtype)]}" for name, dtype in schema.items())
    return (
        f"create table if not exists {OUTPUT_SCHEMA}.{table} "
        f"({columns}, primary key ({', '.join(key)}))"
    )


def ensure_output_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``backtest`` and its four tables when missing; check existing layouts.

    Raises
    ------
    RuntimeError
        When an existing table's columns or types differ from ``engine.schema`` (written by an
        older engine): drop it to let the engine recreate it.
    """
    con.execute(f"create schema if not exists {OUTPUT_SCHEMA}")
    for table, (schema, key) in OUTPUT_TABLES.items():
        con.execute(_ddl(table, schema, key))
        found = con.sql(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            params=[OUTPUT_SCHEMA, table],
        ).pl()
        expected = [(name, _DUCKDB_TYPES[type(dtype)]) for name, dtype in schema.items()]
        if found.rows() != expected:
            raise RuntimeError(
                f"table {OUTPUT_SCHEMA}.{table} has columns {found.rows()}, expected {expected}: "
                f"drop it (`drop table {OUTPUT_SCHEMA}.{table}`) and rerun"
            )


def write_result(con: duckdb.DuckDBPyConnection, result: BacktestResult) -> None:
    """Replace this run's rows in ``backtest.runs``, ``trades``, ``equity_daily``, ``metrics``.

    One transaction: all four tables change together or not at all.
    """
    ensure_output_tables(con)
    frames = {
        "runs": result.runs,
        "trades": result.trades,
        "equity_daily": result.equity_daily,
        "metrics": result.metrics,
    }
    con.execute("begin transaction")
    try:
        for table, (schema, key) in OUTPUT_TABLES.items():
            rows = conform(frames[table], schema).sort(list(key))
            con.execute(f"delete from {OUTPUT_SCHEMA}.{table} where run_id = ?", [result.run_id])
            con.register("_engine_rows", rows)
            try:
                con.execute(
                    f"insert into {OUTPUT_SCHEMA}.{table} by name select * from _engine_rows"
                )
            finally:
                con.unregister("_engine_rows")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
