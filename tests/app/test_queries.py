"""Read-only queries against a SYNTHETIC published warehouse (rows in conftest)."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest

import app.queries as queries
from app.db import missing_columns
from tests.app.conftest import RUN_WITH_TRADES, RUN_WITHOUT_TRADES


def test_doctests() -> None:
    assert doctest.testmod(queries).failed == 0


def test_list_runs(published_db: Path) -> None:
    runs = queries.list_runs(published_db)

    assert runs["run_id"].to_list() == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert runs.columns == [
        "run_id",
        "strategy",
        "underlying_symbol",
        "forecast_model",
        "model_version",
        "first_date",
        "last_date",
    ]
    assert runs.schema["first_date"] == pl.Date


def test_run_metrics_keeps_nan_and_doubles(published_db: Path) -> None:
    metrics = queries.run_metrics(published_db, RUN_WITHOUT_TRADES)

    assert metrics.height == 1
    assert math.isnan(metrics.item(0, "sharpe_ratio"))
    assert metrics.item(0, "n_trades") == 0
    for column in ("total_return", "cagr", "sharpe_ratio", "max_drawdown", "win_rate"):
        assert metrics.schema[column] == pl.Float64


def test_equity_curve_is_ordered_with_drawdown_at_most_zero(published_db: Path) -> None:
    equity = queries.equity_curve(published_db, RUN_WITH_TRADES)

    assert equity["quote_date"].is_sorted()
    assert equity["equity_usd"].to_list() == [100000.0, 101000.0, 99990.0, 102000.0]
    assert (equity["drawdown"] <= 0).all()
    # 99990 / 101000 - 1 = -0.01
    assert equity["drawdown"].min() == pytest.approx(-0.01)


def test_decimal_columns_come_back_as_doubles(warehouse_dir: Path, backtest_db_builder) -> None:
    db = backtest_db_builder(warehouse_dir / "options.duckdb", money_type="decimal(18, 2)")

    equity = queries.equity_curve(db, RUN_WITH_TRADES)

    for column in ("cash_usd", "positions_value_usd", "equity_usd"):
        assert equity.schema[column] == pl.Float64
    assert equity["equity_usd"].to_list() == [100000.0, 101000.0, 99990.0, 102000.0]


def test_trades(published_db: Path) -> None:
    trades = queries.trades(published_db, RUN_WITH_TRADES)

    assert trades["trade_id"].to_list() == [1, 2]
    assert "run_id" not in trades.columns
    # (60 - 30) x 100 = 3000 and (0 - 10) x 100 = -1000: sum equals the equity gain 102000 - 100000
    assert trades["pnl_usd"].sum() == pytest.approx(2000.0)
    assert queries.trades(published_db, RUN_WITHOUT_TRADES).is_empty()


def test_run_detail_matches_the_single_queries(published_db: Path) -> None:
    detail = queries.run_detail(published_db, RUN_WITH_TRADES)

    assert detail.metrics.equals(queries.run_metrics(published_db, RUN_WITH_TRADES))
    assert detail.equity.equals(queries.equity_curve(published_db, RUN_WITH_TRADES))
    assert detail.trades.equals(queries.trades(published_db, RUN_WITH_TRADES))
    assert detail.config_json == '{"holding_days": 5}'


def test_run_id_is_bound_not_spliced(published_db: Path) -> None:
    detail = queries.run_detail(published_db, "x' or '1'='1")

    assert detail.metrics.is_empty()
    assert detail.equity.is_empty()
    assert detail.trades.is_empty()
    assert detail.config_json is None


def test_connection_is_released_after_each_query(published_db: Path) -> None:
    queries.run_detail(published_db, RUN_WITH_TRADES)
    queries.list_runs(published_db)

    # A held read-only connection would make this read-write open fail on the lock.
    con = duckdb.connect(str(published_db))
    con.execute("delete from backtest.trades")
    con.close()
    assert queries.trades(published_db, RUN_WITH_TRADES).is_empty()


def test_missing_database_raises_file_not_found(warehouse_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make all"):
        queries.list_runs(warehouse_dir / "options.duckdb")


def test_missing_columns_names_absent_tables_and_columns(
    warehouse_dir: Path, backtest_db_builder
) -> None:
    required = {f"backtest.{table}": cols for table, cols in queries.EXPECTED_COLUMNS.items()}
    db = warehouse_dir / "options.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table unrelated as select 1 as x")
    con.close()
    assert missing_columns(db, required) == required

    db.unlink()
    backtest_db_builder(db)
    assert missing_columns(db, required) == {}

    con = duckdb.connect(str(db))
    con.execute("alter table backtest.trades drop column trade_return")
    con.close()
    assert missing_columns(db, required) == {"backtest.trades": ("trade_return",)}


def test_trades_and_legs_read_the_engines_types(published_db: Path) -> None:
    """SYNTHETIC rows stored as INTEGER / DOUBLE come back as the engine writes them
    (engine/schema.py): counts Int64 (``leg_no`` Int32), prices and USD Float64."""
    from engine.schema import LEGS_SCHEMA, TRADES_SCHEMA

    trades = queries.trades(published_db, RUN_WITH_TRADES)
    legs = queries.legs(published_db, RUN_WITH_TRADES)
    for frame, schema in ((trades, TRADES_SCHEMA), (legs, LEGS_SCHEMA)):
        for column in set(frame.columns) - {"trade_id"}:
            assert frame.schema[column] == schema[column], column
    assert legs.schema["leg_no"] == pl.Int32 and legs.schema["quantity"] == pl.Int64


def test_run_rows_sql_refuses_what_is_not_allowed() -> None:
    with pytest.raises(ValueError, match=r"table must be one of .* got 'metrics'"):
        queries.run_rows_sql("metrics", ("run_id",), ("run_id",))
    with pytest.raises(ValueError, match=r"identifiers, got \['pnl_usd; drop'\]"):
        queries.run_rows_sql("trades", ("pnl_usd; drop",), ("trade_id",))
