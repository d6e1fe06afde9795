"""app.export: one run as a ZIP of config YAML and CSV + Parquet frames.

The archive tests read the SYNTHETIC warehouse of conftest; the config tests run every saved run
of the real published warehouse (``real_published``: set ``OPTIONS_TEST_WAREHOUSE=warehouse`` to
reuse a built one) back through the engine's config parser.
"""

from __future__ import annotations

import doctest
import io
import json
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from app import export
from app.queries import compare
from engine.config import BacktestConfig, load_config
from tests.app.conftest import RUN_WITH_TRADES, RUN_WITHOUT_TRADES

FILES = [
    "README.txt",
    "config.yaml",
    "trades.csv",
    "trades.parquet",
    "legs.csv",
    "legs.parquet",
    "equity_daily.csv",
    "equity_daily.parquet",
    "metrics.csv",
    "metrics.parquet",
]


def _open(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_doctests() -> None:
    assert doctest.testmod(export).failed == 0


def test_archive_holds_every_file_with_the_runs_rows(published_db: Path) -> None:
    run = compare.run_export(published_db, RUN_WITH_TRADES)

    archive = _open(export.run_archive(run, name="My straddle", published_version="1:2"))

    assert archive.namelist() == [f"{RUN_WITH_TRADES}/{name}" for name in FILES]
    assert archive.testzip() is None
    for stem, frame in (
        ("trades", run.trades),
        ("legs", run.legs),
        ("equity_daily", run.equity),
        ("metrics", run.metrics),
    ):
        parquet = pl.read_parquet(io.BytesIO(archive.read(f"{RUN_WITH_TRADES}/{stem}.parquet")))
        assert parquet.equals(frame), stem  # types and NaN kept
        csv = pl.read_csv(
            io.BytesIO(archive.read(f"{RUN_WITH_TRADES}/{stem}.csv")), try_parse_dates=True
        )
        assert csv.columns == frame.columns and csv.height == frame.height, stem
    trades = pl.read_csv(io.BytesIO(archive.read(f"{RUN_WITH_TRADES}/trades.csv")))
    # conftest: trade 1 +3000 USD, trade 2 -1000 USD
    assert trades["pnl_usd"].to_list() == [3000.0, -1000.0]
    assert trades["entry_date"].to_list() == ["2024-01-02", "2024-01-03"]  # ISO dates
    legs = pl.read_csv(io.BytesIO(archive.read(f"{RUN_WITH_TRADES}/legs.csv")))
    assert legs.height == 4 and legs["settlement_price"].null_count() == 4  # empty cells
    readme = archive.read(f"{RUN_WITH_TRADES}/README.txt").decode()
    assert f'Backtest run {RUN_WITH_TRADES} "My straddle"' in readme
    assert "trades.*            backtest.trades, 2 rows" in readme
    assert "published warehouse version 1:2" in readme
    assert "MODELED" not in readme


def test_archive_is_deterministic(published_db: Path) -> None:
    run = compare.run_export(published_db, RUN_WITHOUT_TRADES)

    first, second = export.run_archive(run), export.run_archive(run)

    assert first == second
    info = _open(first).getinfo(f"{RUN_WITHOUT_TRADES}/config.yaml")
    assert info.date_time == export.ENTRY_TIME
    trades = pl.read_parquet(io.BytesIO(_open(first).read(f"{RUN_WITHOUT_TRADES}/trades.parquet")))
    assert trades.is_empty() and "pnl_usd" in trades.columns  # no trades: header only


def test_a_modeled_run_says_so_in_its_readme(published_db: Path) -> None:
    con = duckdb.connect(str(published_db))
    con.execute(
        "alter table backtest.runs add column chain_source varchar;"
        "alter table backtest.runs add column chain_model_version varchar;"
        "update backtest.runs set chain_source = 'modeled', chain_model_version = 'ssvi-1'"
    )
    con.close()

    archive = _open(export.run_archive(compare.run_export(published_db, RUN_WITH_TRADES)))

    readme = archive.read(f"{RUN_WITH_TRADES}/README.txt").decode()
    assert "option chain: modeled (model ssvi-1)" in readme
    assert "MODELED: the chain's quotes are model prices" in readme


def test_an_unknown_run_is_named(published_db: Path) -> None:
    with pytest.raises(LookupError, match="no run 'nope'"):
        compare.run_export(published_db, "nope")


def test_a_config_the_engine_refuses_is_exported_with_the_reason() -> None:
    # the SYNTHETIC runs' config_json is not an engine config
    text = export.config_yaml('{"holding_days": 5}', run_id=RUN_WITH_TRADES)

    assert text.startswith(f"# Backtest config of run {RUN_WITH_TRADES}\n")
    assert "# The engine of this checkout refuses it" in text
    assert yaml.safe_load(text) == {"holding_days": 5}


def test_config_yaml_refuses_what_is_not_a_json_object() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        export.config_yaml("{not json")
    with pytest.raises(ValueError, match="not a JSON object"):
        export.config_yaml("[1, 2]")


def test_default_config_round_trips_through_yaml() -> None:
    cfg = load_config()
    text = export.config_yaml(json.dumps(cfg.to_dict()), run_id=cfg.run_id)

    mapping = yaml.safe_load(text)
    assert mapping["strategy"] == cfg.strategy.name and "legs" not in mapping  # catalogue name
    assert "# Rerun it with: python -m engine run --config" in text
    assert BacktestConfig.from_mapping(mapping).run_id == cfg.run_id


def test_changed_strike_rules_become_leg_overrides_and_keep_the_run_id() -> None:
    cfg = BacktestConfig.from_mapping(
        {"strategy": "iron_condor", "leg_overrides": {1: {"delta": 0.16}, 3: {"delta": 0.16}}}
    )
    mapping = export.runnable_mapping(cfg.to_dict())

    assert mapping["leg_overrides"] == {1: {"delta": 0.16}, 3: {"delta": 0.16}}
    assert BacktestConfig.from_mapping(mapping).run_id == cfg.run_id


def test_a_strategy_outside_the_catalogue_gets_inline_legs() -> None:
    legs = [
        {"type": "put", "side": "short", "ratio": 1, "expiry": "front", "delta": 0.2},
        {"type": "put", "side": "long", "ratio": 1, "expiry": "front", "width_pct": -3.0, "of": 1},
    ]
    cfg = BacktestConfig.from_mapping({"strategy": "my_spread", "legs": legs})

    mapping = export.runnable_mapping(cfg.to_dict())

    assert mapping["strategy"] == "my_spread" and mapping["legs"] == legs
    assert BacktestConfig.from_mapping(mapping).to_dict() == cfg.to_dict()


def test_every_real_run_exports_a_config_that_reproduces_its_run_id(real_published: Path) -> None:
    runs = compare.list_runs(real_published)
    configs = compare.run_configs(real_published, runs["run_id"].to_list())

    assert configs, "the real warehouse has saved runs"
    for run_id, config_json in configs.items():
        text = export.config_yaml(config_json, run_id=run_id)
        assert "# Rerun it with" in text, (run_id, text.splitlines()[1])
        assert BacktestConfig.from_mapping(yaml.safe_load(text)).run_id == run_id


def test_a_real_run_archive_matches_its_tables(real_published: Path) -> None:
    con = duckdb.connect(str(real_published), read_only=True)
    run_id, n_trades, n_legs = con.sql(
        "select trades.run_id, count(distinct trades.trade_id), count(*) "
        "from backtest.trades as trades join backtest.legs as legs using (run_id, trade_id) "
        "group by all order by 2 desc, 1 limit 1"
    ).fetchall()[0]
    con.close()

    archive = _open(export.run_archive(compare.run_export(real_published, run_id)))

    trades = pl.read_parquet(io.BytesIO(archive.read(f"{run_id}/trades.parquet")))
    legs = pl.read_csv(io.BytesIO(archive.read(f"{run_id}/legs.csv")))
    assert (trades.height, legs.height) == (n_trades, n_legs)
    assert trades["trade_id"].is_sorted()
    config = yaml.safe_load(archive.read(f"{run_id}/config.yaml"))
    assert BacktestConfig.from_mapping(config).run_id == run_id
