"""The engine's only I/O: read marts and forecasts from the build DuckDB, write ``backtest.*``.

Reads push the run's filters (chain source, underlying, roots, model) into SQL and select only
the columns in :mod:`engine.schema`. The chain is ``marts.fct_option_chain`` restricted to the
config's ``chain_source`` (``real``: the market quotes of ``marts.fct_option_features``;
``modeled``: ``marts.fct_option_quotes_modeled``), and so is the universe: a run never mixes
the two. Writes replace the rows of one ``run_id`` in every output table inside one
transaction, so a rerun of the same config is idempotent and a failed write leaves the previous
rows in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import duckdb
import polars as pl

from engine.backtest import BacktestResult
from engine.config import BacktestConfig
from engine.schema import (
    ADDED_COLUMNS,
    CHAIN_COLUMNS,
    FORECAST_COLUMNS,
    OUTPUT_TABLES,
    REGIME_COLUMNS,
    SCORE_COLUMNS,
    SELECTOR_COLUMNS,
    UNDERLYING_COLUMNS,
    UNDERLYING_RATE_COLUMNS,
    conform,
)
from engine.settlement import SETTLEMENT_COLUMNS
from warehouse.paths import connect

OUTPUT_SCHEMA = "backtest"
#: The option chain of every chain source (a dbt view: one row per contract, quote_date and
#: chain_source).
CHAIN_TABLE = "marts.fct_option_chain"
_MARTS_HINT = "run `make all` (the dbt build of the marts) first"
_CHAIN_HINT = (
    "the view over marts.fct_option_features (real quotes) and marts.fct_option_quotes_modeled; "
    + _MARTS_HINT
)
_ML_HINT = "run `python -m ml train` (and `make attribution` for the selector) first"

_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.Date: "DATE",
    pl.Boolean: "BOOLEAN",
}


class MissingTableError(LookupError):
    """An input table or one of its columns is not in the database."""


@dataclasses.dataclass(frozen=True)
class BacktestInputs:
    """Keyword arguments of :func:`engine.backtest.run_sweep`, already filtered (``signals``
    also carries ``sessions``, from ``seeds.nyse_sessions``, and ``settlements``, from
    ``marts.fct_settlement_values``, when the warehouse has them), and their provenance: the
    forecast model version (``None`` without a signal), the fingerprint of the chain slice, the
    chain source read and the modeled chain's model version (``None`` on the real chain)."""

    chain: pl.LazyFrame
    universe: pl.LazyFrame
    underlying: pl.LazyFrame
    signals: dict[str, pl.LazyFrame]
    model_version: str | None
    data_fingerprint: str
    chain_source: str = "real"
    chain_model_version: str | None = None


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


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.sql(
        "select table_schema || '.' || table_name, column_name from information_schema.columns"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def _require(
    present: dict[str, set[str]],
    table: str,
    columns: tuple[str, ...],
    hint: str,
    db_path: Path | str,
) -> None:
    if table not in present:
        raise MissingTableError(f"table {table} not found in {db_path}: {hint}")
    missing = [c for c in columns if c not in present[table]]
    if missing:
        raise MissingTableError(f"table {table} in {db_path} lacks column(s) {missing}: {hint}")


def universe_table(name: str) -> str:
    """The mart a universe name reads (``default`` is ``fct_option_quotes_universe``)."""
    return (
        "marts.fct_option_quotes_universe"
        if name == "default"
        else f"marts.fct_option_universe_{name}"
    )


def load_inputs(
    con: duckdb.DuckDBPyConnection, cfg: BacktestConfig, *, db_path: Path | str
) -> BacktestInputs:
    """Read the run's slice of the marts and, for signals, of the forecasts.

    The chain is ``marts.fct_option_chain`` where ``chain_source = cfg.chain_source`` (one row
    per contract per quote_date: :data:`engine.schema.CHAIN_COLUMNS`), the universe its rows of
    the same chain source; both of the config's underlying and roots. With ``cash_interest:
    tbill_1m`` the underlying's rows also carry ``rate_1m`` and ``rate_3m``
    (:data:`engine.schema.UNDERLYING_RATE_COLUMNS`); without it they are not read, so a
    warehouse built before ``rate_1m`` existed still runs every other config.

    Raises
    ------
    MissingTableError
        Naming a missing table or column, the database and the command that builds it.
    ValueError
        When the signal's model has no current run, or its rows repeat a date; on a modeled
        chain, when it has no quotes of the underlying's roots, several model versions, or when
        the universe holds none of its quotes (a universe with min_open_interest or min_volume
        above 0 never does: a modeled quote has neither).
    """
    present = _columns(con)
    _require(
        present,
        CHAIN_TABLE,
        (*CHAIN_COLUMNS, "chain_source", "model_version"),
        _CHAIN_HINT,
        db_path,
    )
    _require(present, "marts.fct_underlying_daily", UNDERLYING_COLUMNS, _MARTS_HINT, db_path)
    universe = universe_table(cfg.universe)
    _require(
        present,
        universe,
        ("contract_symbol", "quote_date", "chain_source"),
        f"no universe {cfg.universe!r}: see the universe_* vars in dbt_project.yml",
        db_path,
    )
    source, symbol, roots = cfg.chain_source, cfg.underlying_symbol, list(cfg.option_roots)
    # every chain read: the config's chain source, underlying and roots (values bound)
    slice_sql = "chain_source = ? and underlying_symbol = ? and list_contains(?, option_root)"
    slice_params = [source, symbol, roots]

    def read(sql: str, params: list) -> pl.LazyFrame:
        return con.sql(sql, params=params).pl().lazy()

    # the run never looks at quotes outside its window (its session calendar is clipped to it):
    # read only those, so a run of a few years of a 16-year modeled chain reads a few years
    window_sql = "".join(
        f" and quote_date {op} cast(? as date)"
        for op, bound in ((">=", cfg.start_date), ("<=", cfg.end_date))
        if bound is not None
    )
    window_params = [b for b in (cfg.start_date, cfg.end_date) if b is not None]
    chain_version = _chain_model_version(con, cfg) if source == "modeled" else None
    chain = read(
        f"select {', '.join(CHAIN_COLUMNS)} from {CHAIN_TABLE} where {slice_sql}{window_sql}",
        [*slice_params, *window_params],
    )
    # the universe table name comes from a validated identifier (letters, digits, '_') that
    # was checked to exist above; values are bound
    universe_lf = read(
        f"select contract_symbol, quote_date from {universe} where {slice_sql}{window_sql}",
        [*slice_params, *window_params],
    )
    if source == "modeled" and universe_lf.select(pl.len()).collect().item() == 0:
        raise ValueError(
            f"universe {cfg.universe!r} ({universe}) holds no modeled quote of {symbol} roots "
            f"{roots}: a modeled quote has no open interest or volume (NULL), so only a "
            "universe with min_open_interest: 0 and min_volume: 0 selects it (see the "
            "universe_* vars in dbt_project.yml)"
        )
    rate_sql = ""
    if cfg.cash_interest != "none":
        _require(
            present,
            "marts.fct_underlying_daily",
            UNDERLYING_RATE_COLUMNS,
            f"cash_interest {cfg.cash_interest!r} reads the T-bill rates of the underlying's "
            "daily rows: " + _MARTS_HINT,
            db_path,
        )
        rate_sql = "".join(
            f", cast({column} as double) as {column}" for column in UNDERLYING_RATE_COLUMNS
        )
    underlying = read(
        "select trade_date, cast(open as double) as open, cast(close as double) as close"
        f"{rate_sql} from marts.fct_underlying_daily where underlying_symbol = ?",
        [symbol],
    )
    signals: dict[str, pl.LazyFrame] = {}
    version = None
    e = cfg.entry
    current = (
        "run_id in (select run_id from ml.model_registry where is_current "
        "and model_name = ? and underlying_symbol = ?)"
    )
    if e.signal in ("prob_up_at_least", "prob_up_at_most", "regime_in", "top_k"):
        needed = {"top_k": SCORE_COLUMNS, "regime_in": REGIME_COLUMNS}.get(
            e.signal, FORECAST_COLUMNS
        )
        _require(present, "ml.predictions", (*needed, "run_id"), _ML_HINT, db_path)
        _require(present, "ml.model_registry", ("run_id", "is_current"), _ML_HINT, db_path)
        if e.signal == "top_k":
            frame = con.sql(
                f"select {', '.join(SCORE_COLUMNS)} from ml.predictions "
                f"where contract_symbol is not null and {current}",
                params=[e.forecast_model, symbol],
            ).pl()
            signals["scores"] = frame.lazy()
        else:
            frame = con.sql(
                f"select {', '.join(needed)} from ml.predictions "
                f"where contract_symbol is null and {current}",
                params=[e.forecast_model, symbol],
            ).pl()
            if frame["as_of_date"].is_duplicated().any():
                raise ValueError(f"forecasts of {e.forecast_model!r} repeat an as_of_date")
            if e.signal == "regime_in" and frame.height and frame["prob_low"].is_null().all():
                raise ValueError(
                    f"entry.signal 'regime_in' needs an iv_regime model (class probabilities); "
                    f"{e.forecast_model!r} has none (e.g. xgb_iv_regime_5d)"
                )
            signals["forecasts"] = frame.lazy()
        if frame.is_empty():
            raise ValueError(
                f"no current predictions of model {e.forecast_model!r} for {symbol!r}: "
                "run `python -m ml train` and `python -m ml predict`"
            )
        version = frame["model_version"][0]
    elif e.signal == "selector":
        _require(present, "forecasts.fct_strategy_signals", SELECTOR_COLUMNS, _ML_HINT, db_path)
        frame = con.sql(
            f"select {', '.join(SELECTOR_COLUMNS)} from forecasts.fct_strategy_signals "
            "where underlying_symbol = ?",
            params=[symbol],
        ).pl()
        signals["selector"] = frame.lazy()
        version = frame["direction_model_version"][0] if frame.height else None
    if "seeds.nyse_sessions" in present:
        signals["sessions"] = read(
            "select session_date, is_early_close from seeds.nyse_sessions order by 1", []
        )
    if "marts.fct_dividends" in present:
        signals["dividends"] = read(
            "select ex_date, cast(dividend_usd as double) as dividend_usd "
            "from marts.fct_dividends where underlying_symbol = ?",
            [symbol],
        )
    if cfg.stock_dividends == "trailing_yield":
        _require(
            present,
            "marts.fct_modeled_chain_inputs",
            ("underlying_symbol", "quote_date", "dividend_yield"),
            "stock_dividends: trailing_yield reads the dividend yields of the modeled chain's "
            "inputs: " + _MARTS_HINT,
            db_path,
        )
        signals["dividend_yields"] = read(
            "select quote_date, cast(dividend_yield as double) as dividend_yield "
            "from marts.fct_modeled_chain_inputs where underlying_symbol = ? "
            "and dividend_yield is not null",
            [symbol],
        )
    if "marts.fct_settlement_values" in present:
        signals["settlements"] = read(
            f"select {', '.join(SETTLEMENT_COLUMNS)} from marts.fct_settlement_values "
            "where underlying_symbol = ?",
            [symbol],
        )
    # of the whole chain slice, window aside: the real chain's fingerprint is the one it had
    # before chain sources existed (same rows, same values)
    fingerprint = hashlib.sha256(
        str(
            con.sql(
                "select count(*), max(quote_date), sum(hash(contract_symbol, quote_date, mid)) "
                f"from {CHAIN_TABLE} where {slice_sql}",
                params=slice_params,
            ).fetchall()
        ).encode()
    ).hexdigest()[:16]
    return BacktestInputs(
        chain, universe_lf, underlying, signals, version, fingerprint, source, chain_version
    )


def _chain_model_version(con: duckdb.DuckDBPyConnection, cfg: BacktestConfig) -> str:
    """The model version of the modeled chain of ``cfg``'s underlying and roots.

    Raises
    ------
    ValueError
        No modeled quote of them, or quotes of several model versions (the run would mix
        two models' prices).
    """
    roots = list(cfg.option_roots)
    versions = [
        row[0]
        for row in con.sql(
            f"select distinct model_version from {CHAIN_TABLE} where chain_source = 'modeled' "
            "and underlying_symbol = ? and list_contains(?, option_root) order by 1",
            params=[cfg.underlying_symbol, roots],
        ).fetchall()
    ]
    if not versions:
        raise ValueError(
            f"no modeled quotes of {cfg.underlying_symbol} roots {roots} in {CHAIN_TABLE}: "
            "build marts.fct_option_quotes_modeled (see the modeled_chains var in "
            "dbt_project.yml) or run on chain_source: real"
        )
    if len(versions) > 1:
        raise ValueError(
            f"the modeled chain of {cfg.underlying_symbol} roots {roots} holds model versions "
            f"{versions}: rebuild marts.fct_option_quotes_modeled with one"
        )
    return versions[0]


def _ddl(table: str, schema: dict[str, pl.DataType], key: tuple[str, ...]) -> str:
    columns = ", ".join(f"{name} {_DUCKDB_TYPES[type(dtype)]}" for name, dtype in schema.items())
    return (
        f"create table if not exists {OUTPUT_SCHEMA}.{table} "
        f"({columns}, primary key ({', '.join(key)}))"
    )


@dataclasses.dataclass(frozen=True)
class OutputTablesChange:
    """What :func:`ensure_output_tables` changed: tables dropped and recreated
    (``backtest.trades``), and columns added in place with the value of the rows already there
    (``backtest.runs.chain_source = 'real'``)."""

    replaced: tuple[str, ...] = ()
    added_columns: tuple[str, ...] = ()


def _added_in_place(
    table: str, found: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> list[str] | None:
    """The columns of ``expected`` that ``found`` lacks when it lacks only columns of
    :data:`engine.schema.ADDED_COLUMNS` (at its end, in order); ``None`` otherwise."""
    added = ADDED_COLUMNS.get(table, {})
    missing = expected[len(found) :]
    if found != expected[: len(found)] or not all(name in added for name, _ in missing):
        return None
    return [name for name, _ in missing]


def ensure_output_tables(con: duckdb.DuckDBPyConnection) -> OutputTablesChange:
    """Create schema ``backtest`` and its tables when missing, and bring older ones up to date.

    A table that lacks only columns appended since its rows were written
    (:data:`engine.schema.ADDED_COLUMNS`, e.g. ``runs.chain_source``) gains them in place,
    filled with what those rows hold (every earlier run read the real chain), so earlier runs
    are kept. When any table's columns or types differ otherwise, its rows were written by an
    earlier engine whose runs no longer match this one's rules: every ``backtest`` table is
    dropped and recreated together (derived data only), so no run is left half in the old
    tables (e.g. equity rows without their ``runs`` row). Returns what changed so the caller
    can say so.
    """
    con.execute(f"create schema if not exists {OUTPUT_SCHEMA}")
    found = {
        table: con.sql(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            params=[OUTPUT_SCHEMA, table],
        ).fetchall()
        for table in OUTPUT_TABLES
    }
    expected = {
        table: [(n, _DUCKDB_TYPES[type(d)]) for n, d in schema.items()]
        for table, (schema, _) in OUTPUT_TABLES.items()
    }
    additions = {
        table: _added_in_place(table, found[table], expected[table])
        for table in OUTPUT_TABLES
        if found[table] and found[table] != expected[table]
    }
    stale = any(columns is None for columns in additions.values())
    replaced, added = [], []
    con.execute("begin transaction")
    try:
        for table, (schema, key) in OUTPUT_TABLES.items():
            if stale and found[table]:
                con.execute(f"drop table {OUTPUT_SCHEMA}.{table}")
                replaced.append(f"{OUTPUT_SCHEMA}.{table}")
            elif additions.get(table):
                for column in additions[table]:
                    sql_type = _DUCKDB_TYPES[type(schema[column])]
                    con.execute(
                        f"alter table {OUTPUT_SCHEMA}.{table} add column {column} {sql_type}"
                    )
                    con.execute(
                        f"update {OUTPUT_SCHEMA}.{table} "
                        f"set {column} = {ADDED_COLUMNS[table][column]}"
                    )
                    added.append(f"{OUTPUT_SCHEMA}.{table}.{column}")
            con.execute(_ddl(table, schema, key))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return OutputTablesChange(tuple(replaced), tuple(added))


def write_result(con: duckdb.DuckDBPyConnection, result: BacktestResult) -> None:
    """Replace this run's rows in every ``backtest`` table, in one transaction; the run's
    ``runs.write_seq`` is one more than the highest written so far (it is the newest run)."""
    frames = {
        "runs": result.runs,
        "trades": result.trades,
        "legs": result.legs,
        "positions_daily": result.positions_daily,
        "equity_daily": result.equity_daily,
        "metrics": result.metrics,
        "skipped_entries": result.skipped_entries,
    }
    con.execute("begin transaction")
    try:
        (last_seq,) = con.sql(f"select max(write_seq) from {OUTPUT_SCHEMA}.runs").fetchall()[0]
        frames["runs"] = frames["runs"].with_columns(
            pl.lit((last_seq or 0) + 1, dtype=pl.Int64).alias("write_seq")
        )
        for table, (schema, key) in OUTPUT_TABLES.items():
            rows = conform(frames[table], schema).sort(list(key))
            con.execute(f"delete from {OUTPUT_SCHEMA}.{table} where run_id = ?", [result.run_id])
            if rows.height:
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


def with_provenance(result: BacktestResult, inputs: BacktestInputs) -> BacktestResult:
    """``result`` with its ``runs`` row stamped with what the inputs were: the forecast model
    version (``None`` without a signal), the data fingerprint of the chain slice it read, the
    chain source and the modeled chain's model version (``None`` on the real chain).
    Every writer of ``backtest.*`` (``python -m engine run``, the app's saved runs) calls it."""
    runs = result.runs.with_columns(
        pl.lit(inputs.model_version, dtype=pl.String).alias("model_version"),
        pl.lit(inputs.data_fingerprint, dtype=pl.String).alias("data_fingerprint"),
        pl.lit(inputs.chain_source, dtype=pl.String).alias("chain_source"),
        pl.lit(inputs.chain_model_version, dtype=pl.String).alias("chain_model_version"),
    )
    return dataclasses.replace(result, runs=runs)
