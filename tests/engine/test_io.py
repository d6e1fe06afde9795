"""engine.io and the CLI against a throwaway DuckDB file of SYNTHETIC tables."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from engine import io
from engine.cli import main
from engine.config import load_config

from .conftest import Chain

D = dt.date
D1, D2, D3 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)
EXP = D(2024, 2, 2)

CONFIG = """
strategy: long_straddle
underlying_symbol: SPX
option_roots: [SPXW]
initial_capital_usd: 10000
entry:
  schedule: daily
  target_dte: 30
  min_dte: 20
  max_dte: 45
  signal: prob_up_at_most
  forecast_model: m
  threshold: 0.55
exits:
  holding_days: 1
"""


def build_db(path, *, with_predictions: bool = True) -> None:
    """SYNTHETIC: a straddle quoted 5 + 4, 6 + 3.5, 7 + 3 on three sessions, an SPX contract the
    SPXW-only run must not read, and predictions of model 'm': a current run (p_up 0.4 on day 1:
    enter on day 2's quotes, the first after day 1's close, at 9.5; exit after 1 session at 10:
    pnl (10 - 9.5) * 100 = 50 at mid) and an older one (p_up 0.9)."""
    quotes = [
        Chain.quote(D1, "call", 100, 5.0, expiration=EXP),
        Chain.quote(D1, "put", 100, 4.0, expiration=EXP),
        Chain.quote(D2, "call", 100, 6.0, expiration=EXP),
        Chain.quote(D2, "put", 100, 3.5, expiration=EXP),
        Chain.quote(D3, "call", 100, 7.0, expiration=EXP),
        Chain.quote(D3, "put", 100, 3.0, expiration=EXP),
        Chain.quote(D1, "call", 100, 1.0, expiration=EXP, root="SPX"),
    ]
    frames = {k: v.collect() for k, v in Chain.frames(quotes).items()}
    # the real chain of marts.fct_option_chain (tests/engine/test_chain_source.py: the modeled one)
    chain = frames["chain"].with_columns(
        pl.lit("real").alias("chain_source"), pl.lit(None, dtype=pl.String).alias("model_version")
    )
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts; create schema ml")
        tables = {
            "marts.fct_option_chain": chain,
            "marts.fct_option_quotes_universe": chain,
            "marts.fct_underlying_daily": frames["underlying"].with_columns(
                pl.lit("SPX").alias("underlying_symbol")
            ),
        }
        if with_predictions:
            rows = [("current", "v2", d, p) for d, p in ((D1, 0.4), (D2, 0.6))] + [
                ("older", "v1", d, 0.9) for d in (D1, D2)
            ]
            tables["ml.predictions"] = pl.DataFrame(
                [
                    {
                        "run_id": r,
                        "model_name": "m",
                        "model_version": v,
                        "underlying_symbol": "SPX",
                        "contract_symbol": None,
                        "as_of_date": d,
                        "p_up": p,
                        "score": p,
                    }
                    for r, v, d, p in rows
                ],
                schema_overrides={"contract_symbol": pl.String},
            )
            tables["ml.model_registry"] = pl.DataFrame(
                {
                    "run_id": ["current", "older"],
                    "model_name": ["m", "m"],
                    "underlying_symbol": ["SPX", "SPX"],
                    "is_current": [True, False],
                }
            )
        for name, df in tables.items():
            con.register("_df", df)
            con.execute(f"create table {name} as select * from _df")
            con.unregister("_df")
    finally:
        con.close()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "build.duckdb"
    build_db(path)
    return path


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(CONFIG)
    return path


def _count(path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(f"select count(*) from {table}").fetchall()[0][0]
    finally:
        con.close()


def test_cli_run_writes_every_table_in_one_go(db, config_path, capsys):
    assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "long_straddle SPX run_id=long_straddle-" in out and "1 closed trades" in out
    for table, rows in (
        ("runs", 1),
        ("trades", 1),
        ("legs", 2),
        ("positions_daily", 1),
        ("equity_daily", 3),
        ("metrics", 1),
        ("skipped_entries", 2),  # day 1: no signal maps to it; day 3: signal off
    ):
        assert _count(db, f"backtest.{table}") == rows, table
    con = duckdb.connect(str(db), read_only=True)
    try:
        pnl, version = con.sql(
            "select trades.pnl_usd, runs.model_version from backtest.trades "
            "inner join backtest.runs using (run_id)"
        ).fetchall()[0]
    finally:
        con.close()
    assert pnl == pytest.approx(50.0)
    assert version == "v2"  # the registry's current run, not the older one


def test_rerun_replaces_the_rows_of_the_run(db, config_path, capsys):
    for _ in range(2):
        assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    assert _count(db, "backtest.trades") == 1 and _count(db, "backtest.legs") == 2


def test_tables_of_an_earlier_engine_are_replaced(db, config_path, capsys):
    con = duckdb.connect(str(db))
    con.execute(
        "create schema backtest; create table backtest.trades (run_id varchar, "
        "trade_id bigint, contracts bigint)"
    )
    con.close()
    assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    assert "replaced backtest.trades" in capsys.readouterr().out


def test_sweep_prints_one_line_per_grid_row(db, config_path, capsys):
    assert (
        main(
            [
                "sweep",
                "--config",
                str(config_path),
                "--db",
                str(db),
                "--axis",
                "holding_days=1,2",
                "--axis",
                "take_profit_pct=none,10",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert "over 4 exit configurations" in lines[0]
    assert len([line for line in lines if "%" in line]) == 4


def test_missing_predictions_table_is_named(tmp_path, config_path, capsys):
    path = tmp_path / "build.duckdb"
    build_db(path, with_predictions=False)
    assert main(["run", "--config", str(config_path), "--db", str(path)]) == 1
    assert "table ml.predictions not found" in capsys.readouterr().err


def test_missing_database_is_not_created(tmp_path, config_path, capsys):
    path = tmp_path / "absent.duckdb"
    assert main(["run", "--config", str(config_path), "--db", str(path)]) == 1
    assert "warehouse database not found" in capsys.readouterr().err
    assert not path.exists()


def test_bad_config_is_reported(db, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: long_straddle\nexits: {holding_days: 0}\n")
    assert main(["run", "--config", str(bad), "--db", str(db)]) == 1
    assert "exits.holding_days must be in [1, 10000], got 0" in capsys.readouterr().err


def test_bad_sweep_axis_is_reported(db, config_path, capsys):
    assert (
        main(["sweep", "--config", str(config_path), "--db", str(db), "--axis", "delta=0.2"]) == 1
    )
    assert "sweep axes must be among" in capsys.readouterr().err


def test_load_inputs_reads_the_roots_and_the_current_run(db, config_path):
    cfg = load_config(config_path)
    con = io.open_database(db)
    try:
        inputs = io.load_inputs(con, cfg, db_path=db)
    finally:
        con.close()
    assert set(inputs.chain.collect()["option_root"]) == {"SPXW"}
    assert inputs.signals["forecasts"].collect()["p_up"].to_list() == [0.4, 0.6]
    assert inputs.model_version == "v2"


def test_default_config_loads():
    cfg = load_config()
    assert cfg.strategy.name == "long_straddle" and cfg.option_roots == ("SPXW",)
    assert (cfg.entry.signal, cfg.entry.threshold) == ("prob_up_at_most", 0.55)


@pytest.mark.parametrize("command", ["run", "sweep", "scan", "summary", "strategies"])
def test_help_works(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_strategies_lists_the_catalogue(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) >= 28 and any(line.startswith("iron_condor") for line in out)


def test_a_config_without_a_signal_runs_from_the_cli(db, tmp_path, capsys):
    path = tmp_path / "plain.yaml"
    path.write_text(
        CONFIG.replace("  signal: prob_up_at_most\n", "  signal: none\n").replace(
            "schedule: daily", "schedule: weekly"
        )
    )
    assert main(["run", "--config", str(path), "--db", str(db)]) == 0
    assert "1 closed trades" in capsys.readouterr().out
    con = duckdb.connect(str(db), read_only=True)
    try:
        version, fingerprint = con.sql(
            "select model_version, data_fingerprint from backtest.runs"
        ).fetchall()[0]
    finally:
        con.close()
    assert version is None and len(fingerprint) == 16


def test_an_earlier_engines_tables_are_replaced_together(db, config_path, capsys):
    # SYNTHETIC: an old run left in equity_daily (current layout) while trades has an old
    # layout: once the tables are replaced, no table may keep the old run's rows (no orphans)
    assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    con = duckdb.connect(str(db))
    con.execute(
        "insert into backtest.equity_daily (run_id, quote_date) values ('old-run', '2024-01-02');"
        "drop table backtest.trades; create table backtest.trades (run_id varchar, lots bigint)"
    )
    con.close()
    assert main(["run", "--config", str(config_path), "--db", str(db)]) == 0
    assert "replaced backtest.equity_daily" in capsys.readouterr().out
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.sql("select distinct run_id from backtest.equity_daily").fetchall()
    finally:
        con.close()
    assert [r[0] for r in runs] != ["old-run"] and "old-run" not in {r[0] for r in runs}


def test_runs_are_numbered_in_the_order_they_are_written(db, tmp_path):
    """SYNTHETIC chain (build_db). Two configs written one after the other get write_seq 1 and
    2; writing the first again makes it the newest, 3: a count rather than a clock, so a
    rebuild from the same inputs writes the same numbers."""
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(CONFIG)
    second.write_text(CONFIG.replace("initial_capital_usd: 10000", "initial_capital_usd: 20000"))
    for path in (first, second, first):
        assert main(["run", "--config", str(path), "--db", str(db)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.sql(
            "select json_extract(config_json, '$.initial_capital_usd')::double, write_seq "
            "from backtest.runs order by write_seq"
        ).fetchall()
    finally:
        con.close()
    assert rows == [(20_000.0, 2), (10_000.0, 3)]
