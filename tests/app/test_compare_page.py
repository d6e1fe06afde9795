"""The Compare page and its queries, on the SYNTHETIC warehouse of conftest (two runs)."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from app import charts
from app.queries import compare
from tests.app.conftest import RUN_WITH_TRADES, RUN_WITHOUT_TRADES, open_app_page


def _chart_data(chart) -> pl.DataFrame:
    """The rows a chart element sends to the browser (its one Arrow dataset)."""
    (dataset,) = chart.proto.datasets
    return pl.from_arrow(pa.ipc.open_stream(dataset.data.data).read_all())


def test_doctests() -> None:
    assert doctest.testmod(compare).failed == 0


def test_compare_runs_by_hand(published_db: Path) -> None:
    comparison = compare.compare_runs(published_db, [RUN_WITH_TRADES, RUN_WITHOUT_TRADES])

    run1 = comparison.equity.filter(pl.col("run_id") == RUN_WITH_TRADES)
    # conftest: returns (NaN -> 0), 0.01, -0.01, 0.0201020102 compound to
    #   0, 0.01, 1.01 x 0.99 - 1 = -0.0001, 0.9999 x 1.0201020102 - 1 = 0.02 (= total_return)
    assert run1["cumulative_return"].to_list() == pytest.approx([0.0, 0.01, -0.0001, 0.02])
    assert run1["drawdown"].to_list() == pytest.approx([0.0, 0.0, -0.01, 0.0])
    run2 = comparison.equity.filter(pl.col("run_id") == RUN_WITHOUT_TRADES)
    assert run2["cumulative_return"].to_list() == [0.0, 0.0, 0.0, 0.0]
    assert comparison.metrics["run_id"].to_list() == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert comparison.metrics.schema["sharpe_ratio"] == pl.Float64


def test_compare_runs_binds_the_ids(published_db: Path) -> None:
    comparison = compare.compare_runs(published_db, ["x' or '1'='1"])

    assert comparison.equity.is_empty()
    assert comparison.metrics.is_empty()


def test_side_by_side_has_one_column_per_run(published_db: Path) -> None:
    metrics = compare.compare_runs(published_db, [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]).metrics

    table = compare.side_by_side(metrics).to_dicts()
    by_metric = {row["metric"]: row for row in table}

    assert list(table[0]) == ["metric", RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert by_metric["Total return"][RUN_WITH_TRADES] == "2.00%"
    assert by_metric["Sharpe"][RUN_WITHOUT_TRADES] == "n/a"  # NaN, never "nan"
    assert by_metric["Trades"][RUN_WITH_TRADES] == "2"
    assert by_metric["Calmar"][RUN_WITH_TRADES] == "350.00"
    assert by_metric["Period"][RUN_WITH_TRADES] == "2024-01-02 to 2024-01-05"


def test_compare_charts_overlay_runs() -> None:
    data = pl.DataFrame(
        {
            "run_id": ["a", "a", "b", "b"],
            "quote_date": pl.date_range(
                pl.date(2024, 1, 2), pl.date(2024, 1, 3), eager=True
            ).append(pl.date_range(pl.date(2024, 1, 2), pl.date(2024, 1, 3), eager=True)),
            "cumulative_return": [0.0, 0.01, 0.0, -0.02],
            "drawdown": [0.0, 0.0, 0.0, -0.02],
        }
    )
    for builder, field in (
        (charts.compare_equity_chart, "cumulative_return"),
        (charts.compare_drawdown_chart, "drawdown"),
    ):
        spec = builder(data).to_dict()
        assert spec["encoding"]["y"]["field"] == field
        assert spec["encoding"]["y"]["axis"]["format"] == "%"
        assert spec["encoding"]["color"]["field"] == "run_id"
        assert spec["encoding"]["x"]["field"] == "quote_date"
        assert spec["encoding"]["x"]["timeUnit"] == "yearmonthdate"


def test_page_compares_two_runs(published_db: Path) -> None:
    at = open_app_page("compare.py")

    assert at.title[0].value == "Compare"
    picker = at.multiselect(key="compare_runs")
    assert picker.value == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]  # default: all (up to 5)
    equity_chart, drawdown_chart = at.get("vega_lite_chart")
    for chart, field in ((equity_chart, "cumulative_return"), (drawdown_chart, "drawdown")):
        spec = json.loads(chart.proto.spec)
        assert spec["encoding"]["y"]["field"] == field
        assert spec["encoding"]["y"]["axis"]["format"] == "%"
        rows = _chart_data(chart)
        assert sorted(rows["run_id"].unique().to_list()) == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    (table,) = at.dataframe
    assert list(table.value.columns) == ["metric", RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert not at.error
    assert not at.warning


def test_page_follows_the_selection(published_db: Path) -> None:
    at = open_app_page("compare.py")

    at.multiselect(key="compare_runs").set_value([RUN_WITH_TRADES]).run()

    assert not at.exception
    rows = _chart_data(at.get("vega_lite_chart")[0])
    assert rows["run_id"].unique().to_list() == [RUN_WITH_TRADES]
    assert list(at.dataframe[0].value.columns) == ["metric", RUN_WITH_TRADES]

    at.multiselect(key="compare_runs").set_value([]).run()
    assert any("Pick one or more runs" in info.value for info in at.info)
    assert not at.get("vega_lite_chart")


def test_page_without_runs_explains(published_db: Path) -> None:
    con = duckdb.connect(str(published_db))
    con.execute("delete from backtest.runs")
    con.close()

    at = open_app_page("compare.py")

    assert any("no backtest runs" in info.value for info in at.info)
    assert not at.multiselect


def test_page_names_a_missing_column(published_db: Path) -> None:
    con = duckdb.connect(str(published_db))
    con.execute("alter table backtest.metrics drop column calmar_ratio")
    con.close()

    at = open_app_page("compare.py")

    assert len(at.error) == 1
    assert "backtest.metrics" in at.error[0].value and "calmar_ratio" in at.error[0].value
