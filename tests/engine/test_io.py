"""Tests of engine.io and the CLI against a throwaway DuckDB holding a SYNTHETIC chain."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

from engine import io
from engine.cli import main
from warehouse.paths import connect

D = dt.date
CONFIG = """\
strategy: long_straddle
underlying_symbol: SPX
option_roots: [SPXW]
target_dte: 30
min_dte: 20
max_dte: 45
holding_days: 1
forecast_model: m
entry_signal: prob_up_at_most
entry_threshold: 0.55
contracts: 2
multiplier: 100
slippage_bps: 100
commission_per_contract: 0.5
initial_capital: 10000
"""


def build_db(path, chain, *, with_predictions: bool = True) -> None:
    # Same SYNTHETIC two-day chain as test_two_day_round_trip_hand_computed (pnl 59 USD),
    # plus an SPX contract that the SPXW-only run must not read.
    exp = D(2024, 2, 2)
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    quotes = chain.straddle(d1, 100, 5.0, 4.0, expiration=exp) + chain.straddle(
        d2, 100, 6.0, 3.5, expiration=exp
    )
    quotes += chain.straddle(d1, 100, 1.0, 1.0, expiration=exp, root="SPX")
    frames = {k: v.collect() for k, v in chain.frames(quotes, prob_up={d1: 0.4, d2: 0.9}).items()}
    con = connect(path)
    try:
        con.execute("create schema marts")
        con.execute("create schema ml")
        tables = {
            "marts.fct_option_quotes_daily": frames["quotes"],
            "marts.fct_option_quotes_universe": frames["universe"],
            "marts.fct_underlying_daily": frames["underlying"],
        }
        if with_predictions:
            # ml.predictions names the probability p_up; only the current run is read
            forecasts = frames["forecasts"].rename({"prob_up": "p_up"})
            tables["ml.predictions"] = pl.concat(
                [
                    forecasts.with_columns(run_id=pl.lit("current")),
                    forecasts.with_columns(run_id=pl.lit("older"), p_up=pl.lit(0.5)),
                ]
            )
            tables["ml.model_registry"] = (
                forecasts.select("model_name", "underlying_symbol")
                .unique()
                .join(
                    pl.DataFrame({"run_id": ["current", "older"], "is_current": [True, False]}),
                    how="cross",
                )
            )
        for name, df in tables.items():
            con.register("_df", df)
            con.execute(f"create table {name} as select * from _df")
            con.unregister("_df")
    finally:
        con.close()


@pytest.fixture
def db(tmp_path, chain):
    path = tmp_path / "build.duckdb"
    build_db(path, chain)
    return path


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(CONFIG)
    return path


def read(db, sql):
    con = connect(db, read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def test_cli_run_writes_tables_and_prints_one_summary_line(db, config_path, capsys):
    assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert re.fullmatch(
        r"long_straddle SPX run_id=[0-9a-f]{12}: 1 trades, total_return=0\.59%, sharpe=\S+, "
        r"max_drawdown=-0\.20%, win_rate=100\.0%",
        out[0],
    ), out[0]
    run_id = out[0].split("run_id=")[1][:12]

    trades = read(db, "select * from backtest.trades")
    assert trades["run_id"].to_list() == [run_id]
    assert trades["pnl_usd"].to_list() == pytest.approx([59.0])
    assert trades["option_root"].to_list() == ["SPXW"]
    equity = read(db, "select * from backtest.equity_daily order by quote_date")
    assert equity["equity_usd"].to_list() == pytest.approx([9980.0, 10059.0])
    runs = read(db, "select * from backtest.runs")
    assert runs.select("run_id", "model_version").row(0) == (run_id, "v1")
    metrics = read(db, "select * from backtest.metrics")
    assert metrics["n_trades"].to_list() == [1]

    types = read(
        db,
        "select data_type, count(*) as n from information_schema.columns "
        "where table_schema = 'backtest' group by all",
    )
    assert not any("DECIMAL" in t for t in types["data_type"].to_list())


def test_rerun_replaces_rows_of_the_run_only(db, config_path, tmp_path, capsys):
    assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    other = tmp_path / "other.yaml"
    other.write_text(CONFIG.replace("contracts: 2", "contracts: 1"))
    assert main(["run", "--config", str(other), "--db", str(db)]) == 0
    before = read(db, "select run_id, count(*) as n from backtest.equity_daily group by all")
    assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    after = read(db, "select run_id, count(*) as n from backtest.equity_daily group by all")
    assert before.sort("run_id").equals(after.sort("run_id"))
    assert after.height == 2
    counts = read(
        db,
        "select (select count(*) from backtest.runs) as runs, "
        "(select count(*) from backtest.metrics) as metrics, "
        "(select count(*) from backtest.trades) as trades",
    )
    assert counts.row(0) == (2, 2, 2)
    capsys.readouterr()


def test_default_db_comes_from_warehouse_dir(tmp_path, chain, config_path, monkeypatch, capsys):
    build_db(tmp_path / "build" / "build.duckdb", chain)
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path))
    assert main(["run", "--config", str(config_path)]) == 0
    assert "1 trades" in capsys.readouterr().out


def test_missing_predictions_table_is_named(tmp_path, chain, config_path, capsys):
    path = tmp_path / "build.duckdb"
    build_db(path, chain, with_predictions=False)
    assert main(["run", "--config", str(config_path), "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"table ml.predictions not found in {path}: run `python -m ml train` first" in err


def test_missing_database_is_not_created(tmp_path, config_path, capsys):
    path = tmp_path / "absent.duckdb"
    assert main(["run", "--config", str(config_path), "--db", str(path)]) == 1
    assert "warehouse database not found" in capsys.readouterr().err
    assert not path.exists()


def test_bad_config_is_reported(db, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG + "stop_loss: 0.5\n")
    assert main(["run", "--config", str(bad), "--db", str(db)]) == 1
    assert "unknown config key(s) ['stop_loss']" in capsys.readouterr().err


def test_load_inputs_filters_roots_and_model(db, config_path):
    from engine.config import load_config

    cfg = load_config(config_path)
    con = io.open_database(db)
    try:
        inputs = io.load_inputs(con, cfg, db_path=db)
    finally:
        con.close()
    universe = inputs.universe.collect()
    assert set(universe["option_root"]) == {"SPXW"}
    assert inputs.quotes.collect()["quote_date"].n_unique() == 2
    assert set(inputs.forecasts.collect()["model_version"]) == {"v1"}
    assert isinstance(inputs.underlying, pl.LazyFrame)


def test_help_works(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0
    assert "--config" in capsys.readouterr().out
