"""The backtest page, run headless with Streamlit's AppTest against SYNTHETIC warehouses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import RUN_WITH_TRADES, RUN_WITHOUT_TRADES, open_app_page

# AppTest resolves relative paths against the calling file, not the working directory.
APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
TIMEOUT_S = 60  # the first run imports altair, polars and duckdb


def _run_app() -> AppTest:
    return open_app_page("backtest.py", TIMEOUT_S)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def test_page_shows_metrics_charts_and_trades(published_db: Path) -> None:
    at = _run_app()

    assert at.title[0].value == "Backtest"
    # The first run is selected by default.
    assert at.selectbox[0].value == RUN_WITH_TRADES
    # Values from the SYNTHETIC metrics row of run 1 (see conftest).
    assert _metrics(at) == {
        "Total return": "2.00%",
        "CAGR": "350.00%",
        "Sharpe": "1.25",
        "Sortino": "1.80",
        "Max drawdown": "-1.00%",
        "Win rate": "50.0%",
        "Trades": "2",
    }

    specs = _chart_specs(at)
    assert len(specs) == 2
    equity_spec, drawdown_spec = specs
    assert equity_spec["encoding"]["y"]["field"] == "equity_usd"
    assert equity_spec["encoding"]["x"]["field"] == "quote_date"
    assert equity_spec["encoding"]["x"]["type"] == "temporal"
    assert drawdown_spec["encoding"]["y"]["field"] == "drawdown"
    assert drawdown_spec["encoding"]["y"]["axis"]["format"] == "%"

    assert len(at.dataframe) == 1
    trades = at.dataframe[0].value
    assert list(trades["trade_id"]) == [1, 2]
    assert list(trades["pnl_usd"]) == [3000.0, -1000.0]
    assert not at.warning
    assert not at.error


def test_selecting_a_run_without_trades(published_db: Path) -> None:
    at = _run_app()
    at.selectbox[0].select(RUN_WITHOUT_TRADES).run()
    assert not at.exception

    metrics = _metrics(at)
    # NaN metrics of the SYNTHETIC run 2 show as "n/a", never "nan%".
    assert metrics["Sharpe"] == "n/a"
    assert metrics["Win rate"] == "n/a"
    assert metrics["Trades"] == "0"
    assert len(_chart_specs(at)) == 2
    assert not at.dataframe
    assert any("no trades" in info.value for info in at.info)


def test_missing_warehouse_explains_how_to_build_it(warehouse_dir: Path) -> None:
    at = _run_app()

    assert len(at.info) == 1
    assert "make all" in at.info[0].value
    assert not at.metric
    assert not at.get("vega_lite_chart")


def test_warehouse_without_backtest_tables_warns(warehouse_dir: Path) -> None:
    con = duckdb.connect(str(warehouse_dir / "options.duckdb"))
    con.execute("create table unrelated as select 1 as x")
    con.close()

    at = _run_app()

    assert len(at.warning) == 1
    assert "make all" in at.warning[0].value
    assert "backtest.runs" in at.warning[0].value
    assert not at.metric


def test_empty_runs_table_explains(published_db: Path) -> None:
    con = duckdb.connect(str(published_db))
    con.execute("delete from backtest.runs")
    con.close()

    at = _run_app()

    assert any("no backtest runs" in info.value for info in at.info)
    assert not at.selectbox


@pytest.mark.parametrize(("table", "column"), [("metrics", "sortino_ratio")])
def test_missing_column_is_named_not_raised(published_db: Path, table: str, column: str) -> None:
    con = duckdb.connect(str(published_db))
    con.execute(f"alter table backtest.{table} drop column {column}")
    con.close()

    at = _run_app()

    assert len(at.error) == 1
    assert f"backtest.{table}" in at.error[0].value
    assert column in at.error[0].value


def test_a_publish_is_picked_up_on_the_next_run(published_db: Path, backtest_db_builder) -> None:
    at = _run_app()
    assert _metrics(at)["Total return"] == "2.00%"

    # Publish the way the warehouse does: build a new file, then os.replace the published one.
    staged = backtest_db_builder(published_db.parent / "staged.duckdb")
    con = duckdb.connect(str(staged))
    con.execute(
        "update backtest.metrics set total_return = 0.05 where run_id = ?", [RUN_WITH_TRADES]
    )
    con.close()
    os.replace(staged, published_db)

    at.run()
    assert not at.exception
    assert _metrics(at)["Total return"] == "5.00%"
