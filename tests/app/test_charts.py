"""Chart builders return typed Altair charts; no Streamlit involved."""

from __future__ import annotations

import datetime as dt

import altair as alt
import polars as pl
import pytest

from app.charts import drawdown_chart, equity_chart

# SYNTHETIC equity: 100 -> 110 -> 99; drawdown 0, 0, 99/110 - 1 = -0.1.
EQUITY = pl.DataFrame(
    {
        "quote_date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)],
        "equity_usd": [100.0, 110.0, 99.0],
        "drawdown": [0.0, 0.0, -0.1],
        "daily_return": [float("nan"), 0.1, -0.1],
    }
)


def test_equity_chart_encodings() -> None:
    chart = equity_chart(EQUITY)

    assert isinstance(chart, alt.Chart)
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["field"] == "quote_date"
    assert spec["encoding"]["x"]["type"] == "temporal"
    # Daily data: no hour ticks between days.
    assert spec["encoding"]["x"]["timeUnit"] == "yearmonthdate"
    assert spec["encoding"]["y"]["field"] == "equity_usd"
    assert spec["encoding"]["y"]["type"] == "quantitative"
    assert spec["encoding"]["y"]["scale"] == {"zero": False}


def test_drawdown_chart_is_a_percent_area() -> None:
    chart = drawdown_chart(EQUITY)

    assert isinstance(chart, alt.Chart)
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "area"
    assert spec["encoding"]["x"]["type"] == "temporal"
    assert spec["encoding"]["y"]["field"] == "drawdown"
    assert spec["encoding"]["y"]["type"] == "quantitative"
    assert spec["encoding"]["y"]["axis"]["format"] == "%"


@pytest.mark.parametrize(
    ("builder", "columns"),
    [(equity_chart, ["quote_date", "equity_usd"]), (drawdown_chart, ["quote_date", "drawdown"])],
)
def test_charts_embed_only_the_plotted_columns(builder, columns) -> None:
    # daily_return's NaN would otherwise reach the Vega-Lite JSON.
    spec = builder(EQUITY).to_dict()
    (rows,) = spec["datasets"].values()
    assert [list(row) for row in rows] == [columns] * EQUITY.height
    assert [row[columns[1]] for row in rows] == EQUITY[columns[1]].to_list()


@pytest.mark.parametrize(
    ("builder", "missing"), [(equity_chart, "equity_usd"), (drawdown_chart, "drawdown")]
)
def test_missing_column_is_named(builder, missing) -> None:
    with pytest.raises(ValueError, match=missing):
        builder(EQUITY.drop(missing))


def test_empty_frame_still_builds() -> None:
    empty = EQUITY.clear()
    assert isinstance(equity_chart(empty).to_dict(), dict)
    assert isinstance(drawdown_chart(empty).to_dict(), dict)
